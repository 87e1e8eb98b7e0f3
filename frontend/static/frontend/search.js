// Search (docs/search.md): the box in the top bar and its results, over the `search` op.
// The server searches only what the caller may read now and ranks the hits; this module
// shows them and opens the case or the room at the message.
//
// app.js calls the hooks at the bottom (install, onWelcome, rerender, reset).
// Same safety rule as everywhere: server and user text only through el() / textContent.

import { $, el } from "./dom.js";
import { language, t } from "./i18n.js";

const PAGE = 20; // consult/search.py PAGE
const QUERY_MAX = 200; // consult/search.py QUERY_MAX_CHARS

// {conn, openCase(id), showMessage(room, seq)}
let ctx = null;
// The shown search: {q, hits, next, error, loading}; null when the panel is closed.
let shown = null;

const when = (iso) => new Date(iso).toLocaleString(language(), { dateStyle: "medium", timeStyle: "short" });

/** The words for a refused query (consult/search.py query_terms: details.reason). */
function errorText(error) {
  switch (error?.details?.reason) {
    case "empty": return t("find.error.empty");
    case "too_long": return t("find.error.tooLong");
    case "too_many_terms": return t("find.error.tooMany");
    case "no_terms": return t("find.error.noTerms");
    default: return error?.local ? t("find.error.offline") : t("find.error.failed");
  }
}

async function run(q, offset = 0) {
  if (!ctx) return;
  if (!q.trim()) {
    shown = { q, hits: [], next: null, error: t("find.error.empty"), loading: false };
    return render();
  }
  if (offset === 0) shown = { q, hits: [], next: null, error: "", loading: true };
  else shown.loading = true;
  render();
  const reply = await ctx.conn.request("search", { q, limit: PAGE, offset });
  if (!shown || shown.q !== q) return undefined; // another search started meanwhile
  shown.loading = false;
  if (!reply.ok) {
    shown.error = errorText(reply.error);
  } else {
    shown.hits.push(...reply.data.hits);
    shown.next = reply.data.next;
  }
  render();
  if (offset === 0) $("find-results-title").focus();
  return undefined;
}

function close({ focus = true } = {}) {
  shown = null;
  render();
  if (focus) $("find-input").focus();
}

async function open(hit) {
  close({ focus: false });
  if (hit.kind === "case") return ctx.openCase(hit.case);
  // A message in a case room: the case page above it, then the room at the message.
  if (hit.case) await ctx.openCase(hit.case);
  return ctx.showMessage(hit.room, hit.seq);
}

function hitItem(hit) {
  const kind = hit.kind === "case" ? t("find.kind.case") : t("find.kind.message");
  const button = el("button", { type: "button", class: "find-hit", "data-kind": hit.kind,
    "data-room": hit.room, "data-seq": hit.seq ?? "" },
  el("span", { class: "find-hit-head" },
    el("span", { class: `badge find-kind ${hit.kind}`, text: kind }),
    // A lounge's name in the UI language (the server names it in English); a case keeps its title.
    el("span", { class: "find-hit-title", text: hit.case ? hit.title : ctx.roomTitle(hit.room, hit) }),
    el("time", { class: "muted", datetime: hit.at, text: when(hit.at) })),
  el("span", { class: "find-snippet", text: hit.snippet }));
  button.addEventListener("click", () => open(hit));
  return el("li", {}, button);
}

function render() {
  const panel = $("find-results");
  if (!shown) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  $("find-results-title").textContent = t("find.results", { q: shown.q });
  $("find-error").textContent = shown.error;
  $("find-status").textContent = shown.loading ? t("find.searching")
    : (!shown.error && !shown.hits.length ? t("find.none") : "");
  $("find-list").replaceChildren(...shown.hits.map(hitItem));
  $("find-more").hidden = shown.loading || shown.next === null;
}

// --- hooks for app.js -----------------------------------------------------------------------

export function install(context) {
  ctx = context;
  $("find-input").maxLength = QUERY_MAX;
  $("find-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    run($("find-input").value);
  });
  $("find-more").addEventListener("click", () => {
    if (shown && shown.next !== null) run(shown.q, shown.next);
  });
  $("find-close").addEventListener("click", () => close());
  $("find-results").addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") close();
  });
}

export function onWelcome() {
  $("find-form").hidden = false;
}

export function rerender() {
  render();
}

export function reset() {
  shown = null;
  $("find-form").hidden = true;
  $("find-input").value = "";
  render();
}
