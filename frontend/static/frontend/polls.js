// Polls in the client: a case's diagnosis polls (the poster or the accepting specialist
// makes one; others vote) and a lounge's opinion polls (moderators make them, with an open
// and a close time; the Doctors' lounge holds the network-wide ones). Results show after you
// vote or the poll closes, as bars and a breakdown by specialty (groups under 5 hidden by
// the server); "See the results page" opens /polls/<id> (poll.js) with the chart.
//
// app.js calls install, onEvent, onRoomShown, rerender, reset; cases.js tells which case a
// room shows through the "curbside:case-shown" document event.
// Same safety rule as everywhere: server and user text only through el() / textContent.

import { api } from "./http.js";
import { $, el } from "./dom.js";
import { has, language, t } from "./i18n.js";

const OPTIONS_MIN = 2;
const OPTIONS_MAX = 10; // consult/polls.py
const OPTION_MAX_CHARS = 200;
const QUESTION_MAX_CHARS = 300; // consult/opinion_polls.py
const LOUNGE_SHOWN = 3; // a lounge shows its newest polls only
const GENERAL = "lounge-general";

let ctx = null; // {specialtyName(slug)}
let shownRoom = null;
let caseId = null; // the case of the room shown, once cases.js knows it
let list = { polls: [], can_create: false, error: "" };
let generation = 0;
let draftOptions = ["", ""];
let formOpen = false;
let formError = "";
const choices = new Map(); // poll id → the option picked but not sent yet (kept across redraws)

const when = (iso) => new Date(iso).toLocaleString(language(), { dateStyle: "medium", timeStyle: "short" });
const errorText = (error) => {
  const reason = error?.details?.reason;
  if (reason && has(`poll.error.${reason}`)) return t(`poll.error.${reason}`);
  if (has(`error.${error?.code}`)) return t(`error.${error.code}`);
  const fields = Object.values(error?.fields || {}).join(" ");
  return [error?.message || t("error.generic"), fields].filter(Boolean).join(" ");
};

const listPath = () => (shownRoom?.startsWith("lounge-")
  ? `opinion-polls?room=${encodeURIComponent(shownRoom)}`
  : caseId ? `cases/${encodeURIComponent(caseId)}/polls` : null);

async function load() {
  const path = listPath();
  const mine = ++generation;
  if (!path) {
    list = { polls: [], can_create: false, error: "" };
    render();
    return;
  }
  const reply = await api(path);
  if (mine !== generation) return;
  list = reply.ok ? { ...reply.data, error: "" } : { polls: [], can_create: false, error: errorText(reply.error) };
  render();
}

// --- One poll ----------------------------------------------------------------------------------

function statusLine(p) {
  if (p.closed) return t("poll.closed", { n: p.votes });
  if (!p.opened) return t("poll.opensAt", { when: when(p.opens_at) });
  const until = p.closes_at ? t("poll.until", { when: when(p.closes_at) }) : t("poll.open");
  return `${until} · ${t(p.votes === 1 ? "poll.votes.one" : "poll.votes.other", { n: p.votes })}`;
}

function resultsBlock(p) {
  const r = p.results;
  const total = r.counts.reduce((a, b) => a + b, 0);
  const share = (n) => (total ? Math.round((100 * n) / total) : 0);
  const rows = p.options.map((option, i) => el("li", { class: "poll-bar" },
    el("span", { class: "poll-bar-label", text: option }),
    el("meter", { min: 0, max: Math.max(total, 1), value: r.counts[i], "aria-label": option }),
    el("span", { class: "poll-bar-value", text: t("poll.count", { n: r.counts[i], share: share(r.counts[i]) }) })));
  const block = el("div", { class: "poll-results" }, el("ul", { class: "poll-bars" }, ...rows));
  if (r.by_specialty.length) {
    const head = el("tr", {}, el("th", { scope: "col", text: t("poll.specialty") }),
      ...p.options.map((o, i) => el("th", { scope: "col", title: o, text: String(i + 1) })));
    const body = r.by_specialty.map((g) => el("tr", {},
      el("th", { scope: "row", text: `${ctx.specialtyName(g.specialty) || g.specialty} (${g.votes})` }),
      ...g.counts.map((n) => el("td", { text: String(n) }))));
    block.append(el("div", { class: "poll-breakdown-wrap" }, el("table", { class: "poll-breakdown" },
      el("caption", { text: t("poll.breakdown") }), el("thead", {}, head), el("tbody", {}, ...body))));
  }
  if (r.hidden_votes) block.append(el("p", { class: "muted", text: t("poll.hidden", { n: r.hidden_votes }) }));
  return block;
}

function voteForm(p) {
  const name = `poll-${p.id}`;
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { class: "poll-vote" },
    el("fieldset", {}, el("legend", { class: "visually-hidden", text: t("poll.choose") }),
      ...p.options.map((option, i) => el("label", { class: "check poll-choice" },
        el("input", { type: "radio", name, value: String(i), required: true, checked: choices.get(p.id) === i }),
        el("span", { text: option })))),
    el("button", { type: "submit", class: "primary poll-vote-btn", text: t("poll.vote") }), error);
  form.addEventListener("change", () => {
    const picked = form.querySelector("input:checked");
    if (picked) choices.set(p.id, Number(picked.value));
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const chosen = form.querySelector("input:checked");
    if (!chosen) {
      error.textContent = t("poll.pick");
      return;
    }
    const reply = await api(`polls/${encodeURIComponent(p.id)}/vote`, { method: "POST", body: { option: Number(chosen.value) } });
    if (!reply.ok) {
      error.textContent = errorText(reply.error);
      if (reply.error?.details?.reason) load();
      return;
    }
    choices.delete(p.id);
    replace(reply.data.poll);
  });
  return form;
}

function card(p) {
  const title = p.kind === "opinion" ? p.question : t("poll.diagnosis");
  const parts = [el("h4", { class: "poll-question", text: title }),
    el("p", { class: "muted poll-status", text: statusLine(p) })];
  // A moderator sees the results from the start and may still vote.
  if (!p.voted && p.opened && !p.closed) parts.push(voteForm(p));
  if (p.results) parts.push(resultsBlock(p));
  else if (p.voted || !p.opened || p.closed) parts.push(el("p", { class: "muted", text: t("poll.hiddenUntil") }));
  if (p.voted) parts.push(el("p", { class: "poll-voted", text: t("poll.youVoted") }));
  const links = el("div", { class: "poll-links" });
  const linkError = el("p", { class: "error", role: "alert" });
  if (p.results) links.append(el("a", { class: "link-btn", href: `/polls/${encodeURIComponent(p.id)}`, text: t("poll.page") }));
  if (list.can_create && !p.closed) {
    const close = el("button", { type: "button", class: "link-btn poll-close", text: t("poll.closeNow") });
    close.addEventListener("click", async () => {
      const reply = await api(`polls/${encodeURIComponent(p.id)}/close`, { method: "POST" });
      if (reply.ok) replace(reply.data.poll);
      else linkError.textContent = errorText(reply.error);
    });
    links.append(close);
  }
  parts.push(links, linkError);
  return el("li", { class: "poll-card", "data-poll": p.id, "data-kind": p.kind }, ...parts);
}

function replace(poll) {
  const i = list.polls.findIndex((p) => p.id === poll.id);
  if (i >= 0) list.polls[i] = poll;
  else list.polls.unshift(poll);
  render();
}

// --- Making a poll -----------------------------------------------------------------------------

/** "2026-12-02T17:00" from a datetime-local input as an ISO time with the browser's offset. */
const isoLocal = (value) => (value ? new Date(value).toISOString() : null);
const localInput = (date) => {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
};

function createForm() {
  const opinion = shownRoom.startsWith("lounge-");
  const kept = new Map([...(document.querySelectorAll("#poll-form input, #poll-form textarea"))].map((i) => [i.id, i.value]));
  const form = el("form", { id: "poll-form", class: "poll-form", novalidate: true });
  if (opinion) {
    form.append(el("p", { class: "muted", text: t(shownRoom === GENERAL ? "poll.network" : "poll.lounge") }),
      el("label", { for: "poll-question", text: t("poll.question") }),
      el("textarea", { id: "poll-question", rows: 2, maxlength: QUESTION_MAX_CHARS, required: true }));
  }
  const options = el("ol", { id: "poll-options", class: "poll-options" }, ...draftOptions.map((value, i) => el("li", {},
    el("label", { for: `poll-option-${i}`, class: "visually-hidden", text: t("poll.optionN", { n: i + 1 }) }),
    el("input", { id: `poll-option-${i}`, type: "text", maxlength: OPTION_MAX_CHARS, value, placeholder: t("poll.optionN", { n: i + 1 }) }))));
  form.append(el("p", { class: "poll-options-title", text: t(opinion ? "poll.options" : "poll.diagnoses") }), options);
  const add = el("button", { type: "button", id: "poll-add", class: "link-btn", text: t("poll.addOption"), disabled: draftOptions.length >= OPTIONS_MAX });
  add.addEventListener("click", () => {
    keepOptions();
    draftOptions.push("");
    render();
    $(`poll-option-${draftOptions.length - 1}`)?.focus();
  });
  form.append(add);
  if (opinion) {
    const now = new Date();
    form.append(el("div", { class: "poll-window" },
      el("label", { for: "poll-opens", text: t("poll.opens") }),
      el("input", { id: "poll-opens", type: "datetime-local", value: localInput(now) }),
      el("label", { for: "poll-closes", text: t("poll.closes") }),
      el("input", { id: "poll-closes", type: "datetime-local", value: localInput(new Date(now.getTime() + 3 * 86400e3)) })));
  }
  form.append(el("p", { id: "poll-form-error", class: "error", role: "alert", text: formError }),
    el("button", { type: "submit", id: "poll-create", class: "primary", text: t("poll.create") }));
  for (const [id, value] of kept) if (form.querySelector(`#${CSS.escape(id)}`) && !id.startsWith("poll-option-")) form.querySelector(`#${CSS.escape(id)}`).value = value;
  form.addEventListener("submit", submit);
  const box = el("details", { id: "poll-new", class: "poll-new", open: formOpen },
    el("summary", { text: t(opinion ? "poll.newOpinion" : "poll.newDiagnosis") }), form);
  box.addEventListener("toggle", () => { formOpen = box.open; });
  return box;
}

function keepOptions() {
  draftOptions = draftOptions.map((_, i) => $(`poll-option-${i}`)?.value ?? "");
}

async function submit(ev) {
  ev.preventDefault();
  keepOptions();
  const options = draftOptions.map((o) => o.trim()).filter(Boolean);
  const show = (text) => {
    formError = text;
    $("poll-form-error").textContent = text;
  };
  if (options.length < OPTIONS_MIN) return show(t("poll.needOptions", { min: OPTIONS_MIN }));
  let reply;
  if (shownRoom.startsWith("lounge-")) {
    const question = $("poll-question").value.trim();
    if (!question) return show(t("poll.needQuestion"));
    const opens = isoLocal($("poll-opens").value);
    const closes = isoLocal($("poll-closes").value);
    if (!closes) return show(t("poll.needClose"));
    if (opens && closes <= opens) return show(t("poll.closeAfterOpen"));
    reply = await api("opinion-polls", { method: "POST", body: {
      room: shownRoom === GENERAL ? null : shownRoom, question, options, opens_at: opens, closes_at: closes, language: language() } });
  } else {
    reply = await api(`cases/${encodeURIComponent(caseId)}/polls`, { method: "POST", body: { options } });
  }
  if (!reply.ok) return show(reply.error?.code === "phi_detected" ? t("poll.phi") : errorText(reply.error));
  draftOptions = ["", ""];
  formError = "";
  formOpen = false;
  replace(reply.data.poll);
  return undefined;
}

// --- The box above the room's messages -----------------------------------------------------------

function render() {
  const box = $("polls-box");
  if (!box) return;
  const polls = shownRoom?.startsWith("lounge-") ? list.polls.slice(0, LOUNGE_SHOWN) : list.polls;
  const show = Boolean(shownRoom) && (polls.length > 0 || list.can_create || Boolean(list.error));
  box.hidden = !show;
  if (!show) {
    box.replaceChildren();
    return;
  }
  if (list.can_create && $("poll-form")) keepOptions();
  const parts = [el("h3", { id: "polls-title", class: "polls-title", text: t(shownRoom.startsWith("lounge-") ? "poll.titleLounge" : "poll.titleCase") })];
  if (list.error) parts.push(el("p", { class: "error", text: list.error }));
  parts.push(el("ul", { class: "poll-list" }, ...polls.map(card)));
  if (list.can_create) parts.push(createForm());
  box.replaceChildren(...parts);
}

// --- Hooks called by app.js --------------------------------------------------------------------

export function install(context) {
  ctx = context;
  const box = el("section", { id: "polls-box", class: "polls-box", hidden: true, "aria-labelledby": "polls-title" });
  $("case-panel").before(box);
  document.addEventListener("curbside:case-shown", (ev) => {
    const { room, case: id } = ev.detail || {};
    if (room !== shownRoom || id === caseId) return;
    caseId = id;
    load();
  });
}

// A network-wide poll's votes reach every socket in the Doctors' lounge: each vote must not
// make every reader ask the server at once. The count comes with the event; the list is read
// again only when something the event cannot say changed (a new poll, a close, shown bars),
// at most once per window, at a random moment in it.
const RELOAD_SOON_MS = 500;
const RELOAD_BARS_MS = 4000;
let reloadTimer = null;

function reloadWithin(ms) {
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => {
    reloadTimer = null;
    load();
  }, Math.random() * ms);
}

/** poll.updated in the room on screen (the event holds no results: see above). */
export function onEvent(frame) {
  if (frame.type !== "poll.updated") return false;
  if (frame.room !== shownRoom) return true;
  const d = frame.data || {};
  const p = list.polls.find((x) => x.id === d.poll);
  if (!p || p.closed !== d.closed || p.opened !== d.opened) {
    reloadWithin(RELOAD_SOON_MS);
    return true;
  }
  p.votes = Math.max(p.votes, d.votes);
  render();
  if (p.results) reloadWithin(RELOAD_BARS_MS);
  return true;
}

export function onRoomShown(roomId) {
  if (roomId === shownRoom) return;
  shownRoom = roomId;
  caseId = null;
  choices.clear();
  draftOptions = ["", ""];
  formOpen = false;
  formError = "";
  list = { polls: [], can_create: false, error: "" };
  load();
}

export function rerender() {
  render();
}

export function reset() {
  clearTimeout(reloadTimer);
  reloadTimer = null;
  shownRoom = null;
  caseId = null;
  generation += 1;
  list = { polls: [], can_create: false, error: "" };
  render();
}
