// The network dashboard (GET /api/v1/dashboard): per specialty and ISO week, the medians of
// time to first response and to resolution, the share resolved within 24 h and of urgent
// cases accepted within 5 minutes — each beside SERMO's published figures. One card per row
// (no wide table), so it reads the same on a phone and a desktop.
//
// cases.js installs it and shows the screen; same safety rule: text only through el().

import { $, el } from "./dom.js";
import { language, t } from "./i18n.js";

const WEEKS = [4, 12, 26, 52];
let ctx = null; // {specialtyName(slug), duration(seconds)}
let data = null; // the last Dashboard answer
let error = "";
let loading = 0;

const percent = (share) => (share === null || share === undefined ? "—"
  : share.toLocaleString(language(), { style: "percent", maximumFractionDigits: 0 }));
const number = (n) => (n === null || n === undefined ? "—" : n.toLocaleString(language(), { maximumFractionDigits: 1 }));

export function install(context) {
  ctx = context;
}

export async function load() {
  const body = $("dashboard-body");
  if (!body) return;
  if (!$("dashboard-weeks")) render();
  const weeks = $("dashboard-weeks")?.value || "12";
  const mine = ++loading;
  try {
    const res = await fetch(`/api/v1/dashboard?weeks=${encodeURIComponent(weeks)}`, { credentials: "same-origin" });
    const answer = await res.json().catch(() => ({}));
    if (mine !== loading) return;
    if (res.ok) {
      data = answer;
      error = "";
    } else {
      error = answer.error?.message || t("error.generic");
    }
  } catch {
    if (mine !== loading) return;
    error = t("post.failed");
  }
  render();
}

/** One figure beside SERMO's: ours, theirs, and whether ours is better. */
function versus(labelKey, ours, theirs, better) {
  const node = el("div", { class: "dash-figure" },
    el("span", { class: "dash-label", text: t(labelKey) }),
    el("span", { class: "dash-value", text: ours }));
  if (theirs) {
    node.append(el("span", { class: "dash-sermo", text: t("dash.sermo", { value: theirs }) }));
    if (better !== null) {
      node.append(el("span", { class: `badge ${better ? "dash-better" : "dash-worse"}`,
        text: t(better ? "dash.better" : "dash.worse") }));
    }
  }
  return node;
}

function rowCard(r, sermo) {
  const first = r.median_first_response_s;
  const resolution = r.median_resolution_s;
  return el("li", { class: "dash-row", "data-specialty": r.specialty, "data-week": r.week },
    el("h3", {}, el("span", { text: ctx.specialtyName(r.specialty) }), " ",
      el("span", { class: "muted", text: t("dash.week", { week: r.week }) })),
    el("p", { class: "muted dash-counts", text: t("dash.counts", {
      cases: r.cases, replies: number(r.median_replies), participants: number(r.median_participants) }) }),
    el("div", { class: "dash-figures" },
      versus("dash.firstResponse", ctx.duration(first), ctx.duration(sermo.first_response_avg_s),
        first === null ? null : first <= sermo.first_response_avg_s),
      versus("dash.resolution", ctx.duration(resolution), null, null),
      versus("dash.within24", percent(r.resolved_within_24h_share), t("dash.sermo24"), null),
      versus("dash.urgent", r.urgent ? t("dash.urgentShare", {
        share: percent(r.urgent_accepted_within_5min_share), n: r.urgent }) : t("dash.noUrgent"), null, null)));
}

export function render() {
  const body = $("dashboard-body");
  if (!body || !ctx) return;
  const chosen = $("dashboard-weeks")?.value || "12";
  const weeks = el("select", { id: "dashboard-weeks" },
    ...WEEKS.map((w) => el("option", { value: String(w), text: t("dash.weeks", { n: w }) })));
  weeks.value = chosen;
  weeks.addEventListener("change", load);
  const parts = [el("div", { class: "filter" }, el("label", { for: "dashboard-weeks", text: t("dash.period") }), weeks)];
  if (data) {
    const s = data.sermo;
    parts.push(el("section", { class: "dash-sermo-box", id: "dashboard-sermo", "aria-label": t("dash.sermoTitle") },
      el("h3", { text: t("dash.sermoTitle") }),
      el("p", { text: t("dash.sermoFigures", { first: ctx.duration(s.first_response_avg_s), within: ctx.duration(s.resolution_within_s) }) }),
      el("p", { class: "muted", text: t("dash.sermoSource") })));
    parts.push(data.rows.length
      ? el("ul", { class: "dash-rows", id: "dashboard-rows" }, ...data.rows.map((r) => rowCard(r, s)))
      : el("p", { class: "muted", id: "dashboard-rows", text: t("dash.none") }));
    parts.push(el("p", { class: "muted", text: t("dash.generated", {
      when: new Date(data.generated_at).toLocaleString(language(), { dateStyle: "medium", timeStyle: "short" }) }) }));
  } else if (!error) {
    parts.push(el("p", { class: "muted", text: t("feed.loading") }));
  }
  parts.push(el("p", { class: "error", role: "alert", id: "dashboard-error", text: error }));
  body.replaceChildren(...parts);
}

export function rerender() {
  render();
}

export function reset() {
  data = null;
  error = "";
  loading += 1;
  const body = $("dashboard-body");
  if (body) body.replaceChildren();
}
