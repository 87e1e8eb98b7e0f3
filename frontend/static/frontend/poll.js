// The results page of a poll (/polls/<id>): the question, the chart the server draws as SVG
// (GET /api/v1/polls/<id>/chart.svg, core/svgchart.py), the counts and the breakdown by
// specialty as tables, and the CSV export for who may have it (moderators at any time,
// everyone once the poll closed). English or Spanish as the client was last set.
// Text only through el() / textContent (dom.js).

import { $, el } from "./dom.js";
import { initialLanguage, language, setLanguage, t, translatePage } from "./i18n.js";

const id = decodeURIComponent(location.pathname.replace(/^\/polls\//, "").replace(/\/$/, ""));
const base = `/api/v1/polls/${encodeURIComponent(id)}`;

async function getJson(path) {
  try {
    const res = await fetch(path, { credentials: "same-origin" });
    return { status: res.status, body: await res.json().catch(() => ({})) };
  } catch {
    return { status: 0, body: {} };
  }
}

function table(captionText, head, rows) {
  return el("div", { class: "poll-breakdown-wrap" }, el("table", { class: "poll-breakdown" },
    el("caption", { text: captionText }),
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...rows.map((cells) => el("tr", {},
      el("th", { scope: "row", text: cells[0] }), ...cells.slice(1).map((c) => el("td", { text: String(c) })))))));
}

async function show() {
  let stored = null;
  try {
    stored = localStorage.getItem("curbside.lang");
  } catch {
    // No storage: the browser's language decides.
  }
  setLanguage(initialLanguage(stored, navigator.languages || [navigator.language]));
  translatePage();
  document.title = `Curbside · ${t("poll.pageTitle")}`;
  $("poll-back").textContent = t("poll.back");
  $("poll-title").textContent = t("poll.pageTitle");
  const [poll, me, specialties] = await Promise.all([
    getJson(base), getJson("/api/v1/me"), getJson(`/api/v1/specialties?lang=${language()}`)]);
  if (poll.status === 401) {
    $("poll-note").textContent = t("poll.signin");
    return;
  }
  if (poll.status !== 200) {
    $("poll-note").textContent = t("poll.notFound");
    return;
  }
  const p = poll.body.poll;
  const names = new Map((specialties.body.specialties || []).map((s) => [s.slug, s.name]));
  $("poll-title").textContent = p.question || t("poll.diagnosis");
  const status = p.closed ? t("poll.closed", { n: p.votes })
    : !p.opened ? t("poll.opensAt", { when: new Date(p.opens_at).toLocaleString(language()) })
      : `${t("poll.until", { when: new Date(p.closes_at).toLocaleString(language()) })} · ${t(p.votes === 1 ? "poll.votes.one" : "poll.votes.other", { n: p.votes })}`;
  $("poll-status").textContent = status;
  const role = me.body.physician?.role;
  if (p.closed || role === "moderator" || role === "admin") {
    $("poll-csv").href = `${base}/results.csv`;
    $("poll-csv").textContent = t("poll.csv");
    $("poll-csv").hidden = false;
  }
  if (!p.results) {
    $("poll-note").textContent = t("poll.hiddenUntil");
    return;
  }
  const r = p.results;
  const total = r.counts.reduce((a, b) => a + b, 0);
  const share = (n) => (total ? Math.round((100 * n) / total) : 0);
  const summary = p.options.map((o, i) => `${o}: ${t("poll.count", { n: r.counts[i], share: share(r.counts[i]) })}`).join("; ");
  $("poll-chart").alt = t("poll.chartAlt", { summary });
  $("poll-chart").src = `${base}/chart.svg?lang=${language()}`;
  $("poll-figure").hidden = false;
  const tables = [table(t("poll.pageTitle"), [t("poll.option"), t("poll.votesCol")],
    p.options.map((o, i) => [o, t("poll.count", { n: r.counts[i], share: share(r.counts[i]) })]))];
  if (r.by_specialty.length) {
    tables.push(table(t("poll.breakdown"), [t("poll.specialty"), ...p.options],
      r.by_specialty.map((g) => [`${names.get(g.specialty) || g.specialty} (${g.votes})`, ...g.counts])));
  }
  if (r.hidden_votes) tables.push(el("p", { class: "muted", text: t("poll.hidden", { n: r.hidden_votes }) }));
  $("poll-tables").replaceChildren(...tables);
}

show();
