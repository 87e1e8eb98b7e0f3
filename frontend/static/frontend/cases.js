// Cases as crowd consults: the feed (filters, cursor paging), the post-a-case dialog with the
// structured template and images, and the case page (the case above its room's chat, images
// with a viewer, metrics, resolve with outcome and helpful answers, publish, invite).
//
// app.js calls the hooks at the bottom (install, onWelcome, onEvent, onRoomShown, rerender,
// reset). Every element of these screens is built here, so index.html stays as it was.
// Same safety rule as everywhere: server and user text only through el() / textContent.

import { csrfToken } from "./csrf.js";
import { api } from "./http.js";
import { $, el, markSpans } from "./dom.js";
import { has, language, phiKindName, t } from "./i18n.js";
import * as dashboard from "./dashboard.js";
import { followButton } from "./inbox.js";

// consult/services.py and consult/models.py: the template's choices and limits.
const LANGUAGES = ["en", "es", "fr", "pt", "de", "it"];
const AGE_BANDS = ["0-1", "1-4", "5-12", "13-17", "18-29", "30-44", "45-64", "65-79", "80+"];
const SEXES = ["female", "male", "other"];
const STATUSES = ["open", "claimed", "resolved", "withdrawn", "closed"];
const IMAGES_MAX = 6; // consult/services.py IMAGES_MAX
const HELPFUL_MAX = 10; // consult/services.py HELPFUL_MAX
const TEXT_LIMITS = { title: 120, chief_complaint: 300, history: 2000, findings: 2000, question: 2000 };
const OUTCOME_MAX = 2000;

// {conn, openRoom(id), rooms(), specialties(), specialtyName(slug), mySpecialties(),
//  closeDrawer(), onPosted(case)}
let ctx = null;
const known = new Map(); // case id → the latest CaseView (or FeedItem) seen
const byRoom = new Map(); // room id → case id
const uploadErrors = new Map(); // case id → text: an image of a just-posted case was refused
let shownRoom = null;
let view = "chat"; // chat | feed | dashboard
const feed = { items: [], next: null, loading: false, error: "", generation: 0 };
let draftImages = []; // [{file, url}] chosen in the post dialog
let postPhi = null; // {body, field, findings, confirmed}
// The draft's retry key (client_id of POST cases): made at its first submit and kept until a
// post of it succeeds, so a retry — ours after a lost answer, or the user's "Post" again —
// gets the case already stored instead of a second one.
let postClientId = null;
let resolvePhi = null; // {key, field, findings, text, confirmed}

const specialtyName = (slug) => (ctx && ctx.specialtyName(slug)) || slug;
const errorText = (error) => {
  const key = `error.${error?.code}`;
  if (has(key)) return t(key);
  const fields = Object.values(error?.fields || {}).join(" ");
  return [error?.message || t("error.generic"), fields].filter(Boolean).join(" ");
};
const when = (iso) => new Date(iso).toLocaleString(language(), { dateStyle: "medium", timeStyle: "short" });

/** A duration in seconds in words ("42 s", "12 min", "1.5 h"), or "—". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return t("dur.s", { n: Math.round(seconds) });
  if (seconds < 3600) return t("dur.min", { n: Math.round(seconds / 60) });
  const h = seconds / 3600;
  return t("dur.h", { n: h.toLocaleString(language(), { maximumFractionDigits: 1 }) });
}

function remember(c) {
  const prior = known.get(c.id);
  known.set(c.id, prior && !("mine" in c) && "mine" in prior ? { ...prior, ...c } : c);
  byRoom.set(c.room, c.id);
}

// --- Screens: the feed and the dashboard take the place of the chat view ---------------------

function showView(name) {
  const was = view;
  view = name;
  // On a phone the screen links sit in the room drawer: it closes as the screen opens.
  ctx.closeDrawer();
  $("chat-view").hidden = name !== "chat";
  $("feed-view").hidden = name !== "feed";
  $("dashboard-view").hidden = name !== "dashboard";
  if (name === "feed") loadFeed(true);
  if (name === "dashboard") dashboard.load();
  // The button that opened the screen is gone with the view it was in: the screen's title
  // takes the focus, and "Back" gives it to the drawer's button (phones) or the composer.
  if (name !== "chat" && name !== was) $(`${name}-title`).focus();
  if (name === "chat" && was !== "chat") ctx.chatShown();
}

function backButton() {
  const back = el("button", { type: "button", class: "link-btn screen-back", "data-i18n": "feed.back", text: t("feed.back") });
  back.addEventListener("click", () => showView("chat"));
  return back;
}

function buildScreens() {
  const main = document.querySelector("main");
  const filters = el("form", { id: "feed-filters", class: "feed-filters", role: "search" });
  const select = (id, labelKey) => {
    const wrap = el("div", { class: "filter" },
      el("label", { for: id, "data-i18n": labelKey, text: t(labelKey) }),
      el("select", { id }));
    filters.append(wrap);
  };
  select("feed-specialty", "feed.specialty");
  select("feed-status", "feed.status");
  select("feed-urgency", "feed.urgency");
  select("feed-language", "feed.language");
  for (const [id, key] of [["feed-mine", "feed.mine"], ["feed-answered", "feed.answered"]]) {
    filters.append(el("label", { class: "check filter-check", for: id },
      el("input", { type: "checkbox", id }), el("span", { "data-i18n": key, text: t(key) })));
  }
  const post = el("button", { type: "button", id: "feed-post", class: "primary", "data-i18n": "tpl.open", text: t("tpl.open") });
  const refresh = el("button", { type: "button", id: "feed-refresh", class: "link-btn", "data-i18n": "feed.refresh", text: t("feed.refresh") });
  refresh.addEventListener("click", () => loadFeed(true));
  const dash = el("button", { type: "button", id: "feed-dashboard", class: "link-btn", "data-i18n": "dash.open", text: t("dash.open") });
  main.append(el("section", { id: "feed-view", class: "screen feed-view", hidden: true, "aria-labelledby": "feed-title" },
    el("header", { class: "screen-head" },
      el("h2", { id: "feed-title", tabindex: "-1", "data-i18n": "feed.title", text: t("feed.title") }),
      el("div", { class: "screen-actions" }, post, refresh, dash, backButton())),
    filters,
    el("p", { id: "feed-error", class: "error", role: "alert" }),
    el("ul", { id: "feed-list", class: "feed-list", "aria-live": "polite" }),
    el("button", { type: "button", id: "feed-more", class: "link-btn", hidden: true, "data-i18n": "feed.more", text: t("feed.more") })));
  const dashBack = backButton();
  const dashFeed = el("button", { type: "button", id: "dashboard-feed", class: "link-btn", "data-i18n": "feed.open", text: t("feed.open") });
  main.append(el("section", { id: "dashboard-view", class: "screen dashboard-view", hidden: true, "aria-labelledby": "dashboard-title" },
    el("header", { class: "screen-head" },
      el("h2", { id: "dashboard-title", tabindex: "-1", "data-i18n": "dash.title", text: t("dash.title") }),
      el("div", { class: "screen-actions" }, dashFeed, dashBack)),
    el("div", { id: "dashboard-body" })));
  post.addEventListener("click", openPostDialog);
  dash.addEventListener("click", () => showView("dashboard"));
  dashFeed.addEventListener("click", () => showView("feed"));
  filters.addEventListener("change", () => loadFeed(true));
  filters.addEventListener("submit", (ev) => ev.preventDefault());
  $("feed-more").addEventListener("click", () => loadFeed(false));

  // Sidebar links to the two screens, right below "Post a case".
  const links = el("div", { class: "screen-links" },
    el("button", { type: "button", id: "nav-feed", class: "room-btn", "data-i18n": "feed.open", text: t("feed.open") }),
    el("button", { type: "button", id: "nav-dashboard", class: "room-btn", "data-i18n": "dash.open", text: t("dash.open") }));
  $("post-open").after(links);
  $("nav-feed").addEventListener("click", () => showView("feed"));
  $("nav-dashboard").addEventListener("click", () => showView("dashboard"));
  // The one post-a-case dialog, from the sidebar as from the feed; urgency is one of its fields.
  $("post-open").addEventListener("click", openPostDialog);
  $("home-feed-all").addEventListener("click", () => showView("feed"));

  // The case page: the case above its room's messages.
  const detail = el("section", { id: "case-detail", class: "case-detail", hidden: true, "aria-labelledby": "case-detail-title" });
  $("case-panel").before(detail);

  document.body.append(el("dialog", { id: "case-viewer", class: "case-viewer", "aria-label": t("viewer.label") },
    el("img", { id: "case-viewer-img", alt: "" }),
    el("button", { type: "button", id: "case-viewer-close", class: "primary", "data-i18n": "viewer.close", text: t("viewer.close") })));
  $("case-viewer-close").addEventListener("click", () => $("case-viewer").close());
  $("case-viewer").addEventListener("click", (ev) => {
    if (ev.target === $("case-viewer")) $("case-viewer").close();
  });
  buildPostDialog();
  buildResolveDialog();
}

function fillSelect(select, options) {
  const chosen = select.value;
  select.replaceChildren(...options.map(([value, text]) => el("option", { value, text })));
  if (options.some(([value]) => value === chosen)) select.value = chosen;
}

function renderFilters() {
  const any = ["", t("feed.any")];
  fillSelect($("feed-specialty"), [any, ...ctx.specialties().map((s) => [s.slug, s.name])]);
  fillSelect($("feed-status"), [any, ...STATUSES.map((s) => [s, t(`status.${s}`)])]);
  fillSelect($("feed-urgency"), [any, ...["routine", "urgent"].map((u) => [u, t(`case.urgency.${u}`)])]);
  fillSelect($("feed-language"), [any, ...LANGUAGES.map((code) => [code, t(`langname.${code}`)])]);
}

// --- The feed ---------------------------------------------------------------------------------

function feedQuery(cursor) {
  const q = new URLSearchParams();
  for (const [id, name] of [["feed-specialty", "specialty"], ["feed-status", "status"],
    ["feed-urgency", "urgency"], ["feed-language", "language"]]) {
    if ($(id).value) q.set(name, $(id).value);
  }
  if ($("feed-mine").checked) q.set("mine", "1");
  if ($("feed-answered").checked) q.set("answered_by_me", "1");
  if (cursor) q.set("cursor", cursor);
  return q.toString();
}

async function loadFeed(fresh) {
  if (!fresh && (feed.loading || !feed.next)) return;
  const generation = fresh ? ++feed.generation : feed.generation;
  feed.loading = true;
  $("feed-more").disabled = true;
  const reply = await api(`cases?${feedQuery(fresh ? null : feed.next)}`);
  if (generation !== feed.generation) return; // the filters changed meanwhile
  feed.loading = false;
  $("feed-more").disabled = false;
  if (!reply.ok) {
    feed.error = errorText(reply.error);
  } else {
    feed.error = "";
    for (const item of reply.data.cases) remember(item);
    feed.items = fresh ? reply.data.cases : [...feed.items, ...reply.data.cases];
    feed.next = reply.data.next;
  }
  renderFeed();
}

function badges(c) {
  const out = [
    el("span", { class: `badge status ${c.status}`, "data-status": c.status, text: t(`status.${c.status}`) }),
    el("span", { class: `badge ${c.urgency}`, text: t(`case.urgency.${c.urgency}`) }),
    el("span", { class: "specialty", text: specialtyName(c.specialty) }),
    el("span", { class: "muted", text: t(`langname.${c.language}`) }),
  ];
  if (c.published) out.push(el("span", { class: "badge teaching", text: t("cv.teaching") }));
  return out;
}

function metricsLine(m) {
  return t("feed.metrics", { replies: m.replies, viewers: m.viewers, participants: m.participants });
}

function feedCard(c) {
  const open = el("button", { type: "button", class: "feed-open", "data-case": c.id },
    el("span", { class: "feed-title", text: c.title || c.summary.slice(0, 120) }));
  open.addEventListener("click", () => openCase(c.id, open.closest("li").querySelector(".error")));
  const parts = [open, el("div", { class: "meta" }, ...badges(c),
    el("time", { datetime: c.posted_at, text: when(c.posted_at) }))];
  if (c.title) parts.push(el("p", { class: "feed-question", text: c.summary }));
  const facts = [metricsLine(c.metrics)];
  if (c.images.length) facts.push(t("feed.images", { n: c.images.length }));
  parts.push(el("p", { class: "muted feed-metrics", text: facts.join(" · ") }));
  parts.push(el("p", { class: "error", role: "alert" }));
  return el("li", { class: "feed-item", "data-case": c.id, "data-status": c.status }, ...parts);
}

function renderFeed() {
  if (!$("feed-list")) return;
  $("feed-error").textContent = feed.error;
  $("feed-list").replaceChildren(...(feed.items.length ? feed.items.map(feedCard)
    : [el("li", { class: "muted feed-empty", text: feed.loading ? t("feed.loading") : t("feed.none") })]));
  $("feed-more").hidden = !feed.next;
}

/** Open a case (joins its room and counts me as a viewer) and show its page. */
export async function openCase(caseId, errorNode = null) {
  const reply = await api(`cases/${encodeURIComponent(caseId)}`);
  if (!reply.ok) {
    if (errorNode) errorNode.textContent = errorText(reply.error);
    return;
  }
  remember(reply.data.case);
  ctx.openRoom(reply.data.case.room);
}

// --- The home's share: the latest cases of my specialties -------------------------------------

const HOME_FEED_PER = 3; // asked per specialty
const HOME_FEED_MAX = 5; // shown on the home
const homeFeed = { items: [], loaded: false, error: "", generation: 0 };

/** Ask the feed for the newest cases of each of my specialties (after a welcome, on "Home"). */
export async function loadHomeFeed() {
  if (!ctx) return;
  const generation = ++homeFeed.generation;
  const replies = await Promise.all(ctx.mySpecialties().map((slug) =>
    api(`cases?specialty=${encodeURIComponent(slug)}&limit=${HOME_FEED_PER}`)));
  if (generation !== homeFeed.generation) return; // a newer load, or a logout, meanwhile
  const byId = new Map();
  for (const reply of replies) if (reply.ok) for (const c of reply.data.cases) byId.set(c.id, c);
  for (const c of byId.values()) remember(c);
  homeFeed.items = [...byId.values()]
    .sort((a, b) => Date.parse(b.posted_at) - Date.parse(a.posted_at)).slice(0, HOME_FEED_MAX);
  const failed = replies.find((reply) => !reply.ok);
  homeFeed.error = failed ? errorText(failed.error) : "";
  homeFeed.loaded = true;
  renderHomeFeed();
}

export function renderHomeFeed() {
  if (!ctx || !$("home-feed")) return;
  $("home-feed-error").textContent = homeFeed.error;
  $("home-feed").replaceChildren(...(homeFeed.items.length ? homeFeed.items.map((c) => {
    const error = el("p", { class: "error", role: "alert" });
    const open = el("button", { type: "button", class: "room-btn home-case", "data-case": c.id },
      el("span", { class: "case-label", text: c.title || c.summary.slice(0, 80) }),
      el("span", { class: "meta" }, ...badges(c)));
    open.addEventListener("click", () => openCase(c.id, error));
    return el("li", { "data-case": c.id, "data-status": c.status }, open, error);
  }) : [el("li", { class: "muted", text: homeFeed.loaded ? t("home.feed.none") : t("feed.loading") })]));
}

// --- Posting a case with the template ----------------------------------------------------------

function field(id, labelKey, control, hintKey = null) {
  const parts = [el("label", { for: id, "data-i18n": labelKey, text: t(labelKey) })];
  if (hintKey) parts.push(el("p", { class: "hint", id: `${id}-hint`, "data-i18n": hintKey, text: t(hintKey) }));
  parts.push(control);
  return el("div", { class: `tpl-field tpl-${id}` }, ...parts);
}

function buildPostDialog() {
  const text = (id, max, rows = 0) => (rows
    ? el("textarea", { id, rows, maxlength: max })
    : el("input", { id, type: "text", maxlength: max, autocomplete: "off" }));
  const form = el("form", { id: "tpl-form", class: "card tpl-form", novalidate: true },
    el("h2", { id: "tpl-title-h", "data-i18n": "tpl.title", text: t("tpl.title") }),
    el("p", { class: "hint", "data-i18n": "tpl.hint", text: t("tpl.hint") }),
    el("div", { class: "tpl-grid" },
      field("tpl-title", "tpl.caseTitle", text("tpl-title", TEXT_LIMITS.title)),
      field("tpl-age", "tpl.age", el("select", { id: "tpl-age" })),
      field("tpl-sex", "tpl.sex", el("select", { id: "tpl-sex" })),
      field("tpl-complaint", "tpl.complaint", text("tpl-complaint", TEXT_LIMITS.chief_complaint)),
      field("tpl-history", "tpl.history", text("tpl-history", TEXT_LIMITS.history, 3)),
      field("tpl-findings", "tpl.findings", text("tpl-findings", TEXT_LIMITS.findings, 3)),
      field("tpl-question", "tpl.question", text("tpl-question", TEXT_LIMITS.question, 3)),
      field("tpl-specialty", "tpl.specialty", el("select", { id: "tpl-specialty", required: true })),
      field("tpl-urgency", "tpl.urgency", el("select", { id: "tpl-urgency", required: true })),
      field("tpl-language", "tpl.language", el("select", { id: "tpl-language" })),
      field("tpl-audience", "tpl.audience", el("select", { id: "tpl-audience" }), "tpl.audienceHint"),
      field("tpl-images", "tpl.images", el("input", { id: "tpl-images", type: "file", accept: "image/*", multiple: true }), "tpl.imagesHint")),
    el("ul", { id: "tpl-thumbs", class: "thumbs" }),
    el("div", { id: "tpl-phi", class: "phi-warning", role: "alert", hidden: true }),
    el("p", { id: "tpl-error", class: "error", role: "alert" }),
    el("div", { class: "dialog-buttons" },
      el("button", { type: "button", id: "tpl-cancel", class: "link-btn", "data-i18n": "post.cancel", text: t("post.cancel") }),
      el("button", { type: "submit", id: "tpl-submit", "data-i18n": "post.submit", text: t("post.submit") })));
  document.body.append(el("dialog", { id: "tpl-dialog", class: "post-dialog tpl-dialog", "aria-labelledby": "tpl-title-h" }, form));
  form.addEventListener("submit", submitPost);
  form.addEventListener("input", (ev) => {
    if (ev.target.id !== "tpl-images" && postPhi && JSON.stringify(postBody()) !== JSON.stringify(postPhi.body)) hidePostPhi();
  });
  $("tpl-cancel").addEventListener("click", closePostDialog);
  $("tpl-urgency").addEventListener("change", renderAudience);
  $("tpl-images").addEventListener("change", addImages);
}

function renderPostOptions() {
  fillSelect($("tpl-age"), [["", t("tpl.notStated")], ...AGE_BANDS.map((b) => [b, t("tpl.ageBand", { band: b })])]);
  fillSelect($("tpl-sex"), [["", t("tpl.notStated")], ...SEXES.map((s) => [s, t(`tpl.sex.${s}`)])]);
  fillSelect($("tpl-specialty"), [["", t("post.pickSpecialty")], ...ctx.specialties().map((s) => [s.slug, s.name])]);
  fillSelect($("tpl-urgency"), [["routine", t("tpl.routine")], ["urgent", t("tpl.urgent")]]);
  const lang = $("tpl-language");
  const chosen = lang.value || (LANGUAGES.includes(language()) ? language() : "en");
  fillSelect(lang, LANGUAGES.map((code) => [code, t(`langname.${code}`)]));
  lang.value = chosen;
  fillSelect($("tpl-audience"), [["network", t("tpl.audience.network")], ["specialty", t("tpl.audience.specialty")]]);
  renderAudience();
  renderThumbs();
  renderPostPhi();
}

function renderAudience() {
  // An urgent case is a private consult: the audience does not apply.
  $("tpl-audience").disabled = $("tpl-urgency").value === "urgent";
}

function openPostDialog() {
  renderPostOptions();
  $("tpl-error").textContent = "";
  $("tpl-dialog").showModal();
  $("tpl-title").focus();
}

function closePostDialog() {
  $("tpl-dialog").close();
}

function addImages() {
  const input = $("tpl-images");
  for (const file of input.files) {
    if (draftImages.length >= IMAGES_MAX) {
      $("tpl-error").textContent = t("tpl.tooManyImages", { n: IMAGES_MAX });
      break;
    }
    draftImages.push({ file, url: URL.createObjectURL(file) });
  }
  input.value = "";
  renderThumbs();
}

function renderThumbs() {
  $("tpl-thumbs").replaceChildren(...draftImages.map((img, i) => {
    const remove = el("button", { type: "button", class: "link-btn thumb-remove", text: t("tpl.removeImage") });
    remove.addEventListener("click", () => {
      URL.revokeObjectURL(img.url);
      draftImages.splice(i, 1);
      renderThumbs();
    });
    return el("li", { class: "thumb" }, el("img", { src: img.url, alt: t("cv.imageAlt", { n: i + 1 }) }), remove);
  }));
}

function clearDraft() {
  for (const img of draftImages) URL.revokeObjectURL(img.url);
  draftImages = [];
  postClientId = null;
  $("tpl-form").reset();
  hidePostPhi();
  renderPostOptions();
}

function postBody() {
  const v = (id) => $(id).value.trim();
  const body = {
    title: v("tpl-title"), age_band: $("tpl-age").value, sex: $("tpl-sex").value,
    chief_complaint: v("tpl-complaint"), history: v("tpl-history"), findings: v("tpl-findings"),
    question: v("tpl-question"), specialty: $("tpl-specialty").value, urgency: $("tpl-urgency").value,
    language: $("tpl-language").value,
  };
  if (body.urgency !== "urgent") body.audience = $("tpl-audience").value;
  return body;
}

const FIELD_IDS = { title: "tpl-title", chief_complaint: "tpl-complaint", history: "tpl-history",
  findings: "tpl-findings", question: "tpl-question", specialty: "tpl-specialty", urgency: "tpl-urgency",
  language: "tpl-language", audience: "tpl-audience", age_band: "tpl-age", sex: "tpl-sex" };
const FIELD_LABELS = { title: "tpl.caseTitle", chief_complaint: "tpl.complaint", history: "tpl.history",
  findings: "tpl.findings", question: "tpl.question", specialty: "tpl.specialty", urgency: "tpl.urgency",
  language: "tpl.language", audience: "tpl.audience", age_band: "tpl.age", sex: "tpl.sex", summary: "tpl.question" };

async function submitPost(ev) {
  ev.preventDefault();
  const body = postBody();
  if (!body.question || !body.specialty) {
    $("tpl-error").textContent = t("tpl.missing");
    $(body.specialty ? "tpl-question" : "tpl-specialty").focus();
    return;
  }
  // "Post anyway" confirms exactly the texts that were flagged, not a later edit of them.
  if (postPhi?.confirmed && JSON.stringify(postPhi.body) === JSON.stringify(body)) body.confirm_phi = true;
  $("tpl-submit").disabled = true;
  $("tpl-error").textContent = "";
  try {
    postClientId ||= crypto.randomUUID();
    const reply = await postCase({ ...body, client_id: postClientId });
    if (reply.status === 422 && reply.error?.code === "phi_detected") {
      const { confirm_phi: _, ...flagged } = body;
      postPhi = { body: flagged, field: reply.error.details?.field || "question",
        findings: reply.error.details?.findings || [], confirmed: false };
      renderPostPhi();
      return;
    }
    if (reply.status !== 201 && reply.status !== 200) { // 200: a retry found the case stored
      const names = Object.keys(reply.error?.fields || {}).map((f) => t(FIELD_LABELS[f] || f));
      $("tpl-error").textContent = names.length && reply.status === 400
        ? t("tpl.badFields", { fields: names.join(", "), detail: Object.values(reply.error.fields).join(" ") })
        : errorText(reply.error);
      const first = Object.keys(reply.error?.fields || {}).find((f) => FIELD_IDS[f]);
      if (first) $(FIELD_IDS[first]).focus();
      return;
    }
    let posted = reply.data.case;
    const failed = [];
    for (const img of draftImages) {
      const up = await uploadImage(posted.id, img.file);
      if (!up.ok) failed.push(errorText(up.error));
    }
    if (draftImages.length) {
      const fresh = await api(`cases/${encodeURIComponent(posted.id)}`);
      if (fresh.ok) posted = fresh.data.case;
    }
    if (failed.length) uploadErrors.set(posted.id, t("cv.imagesFailed", { n: failed.length, why: failed[0] }));
    remember(posted);
    ctx.onPosted(posted); // my cases in the sidebar and home, the routing timeline (urgent.js)
    clearDraft();
    closePostDialog();
    ctx.openRoom(posted.room);
  } finally {
    $("tpl-submit").disabled = false;
  }
}

// POST cases, sent once more (same client_id) when the answer was lost (network) or the
// server said unavailable: the case may be stored already, and the key makes it one case.
async function postCase(body) {
  let reply = await api("cases", { method: "POST", body });
  if (reply.status === 0 || reply.status === 503) {
    await new Promise((r) => setTimeout(r, 1000));
    reply = await api("cases", { method: "POST", body });
  }
  return reply;
}

async function uploadImage(caseId, file) {
  try {
    const res = await fetch(`/api/v1/cases/${encodeURIComponent(caseId)}/images`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": file.type || "application/octet-stream", "X-CSRFToken": csrfToken() },
      body: file,
    });
    const data = await res.json().catch(() => ({}));
    return { ok: res.ok, error: data.error };
  } catch {
    return { ok: false, error: { message: t("post.failed") } };
  }
}

function hidePostPhi() {
  postPhi = null;
  if (!$("tpl-phi")) return;
  $("tpl-phi").hidden = true;
  $("tpl-phi").replaceChildren();
}

function renderPostPhi() {
  if (!postPhi) return;
  const kinds = [...new Set(postPhi.findings.map((f) => f.kind))].map(phiKindName);
  const anyway = el("button", { type: "button", id: "tpl-anyway", text: t("post.postAnyway") });
  anyway.addEventListener("click", () => {
    postPhi.confirmed = true;
    $("tpl-form").requestSubmit();
  });
  const value = postPhi.body[postPhi.field] ?? "";
  $("tpl-phi").replaceChildren(
    el("p", { class: "phi-title", text: t("tpl.phiTitle", { field: t(FIELD_LABELS[postPhi.field] || "tpl.question") }) }),
    el("p", { class: "phi-kinds", text: t("post.phiFound", { kinds: kinds.join(", ") }) }),
    markSpans(value, postPhi.findings, phiKindName),
    el("div", { class: "phi-actions" }, anyway));
  $("tpl-phi").hidden = false;
}

// --- The case page ---------------------------------------------------------------------------

function shownCase() {
  const id = shownRoom ? byRoom.get(shownRoom) : null;
  const c = id ? known.get(id) : null;
  return c && c.summary !== undefined ? c : null;
}

async function refreshShown() {
  const c = shownCase();
  if (!c) return;
  const reply = await api(`cases/${encodeURIComponent(c.id)}`);
  if (reply.ok) {
    remember(reply.data.case);
    renderDetail();
  }
}

function row(labelKey, value, cls = "") {
  if (!value) return [];
  return [el("dt", { text: t(labelKey) }), el("dd", { class: cls, text: value })];
}

function renderDetail() {
  const box = $("case-detail");
  if (!box) return;
  const c = shownCase();
  box.hidden = !c;
  if (!c) return;
  box.dataset.case = c.id;
  box.dataset.status = c.status;
  // polls.js shows the case's polls under it.
  document.dispatchEvent(new CustomEvent("curbside:case-shown", { detail: { room: c.room, case: c.id } }));
  const full = "mine" in c; // a CaseView (not only a feed card)
  const parts = [];
  const head = el("div", { class: "case-detail-head" },
    el("h3", { id: "case-detail-title", text: c.title || t("cv.untitled") }),
    el("div", { class: "meta", id: "case-badges" }, ...badges(c)));
  parts.push(head);
  parts.push(el("p", { class: "muted", text: t("cv.posted", { when: when(c.posted_at) }) + (c.mine ? ` · ${t("cv.yours")}` : "") }));
  if (c.outcome) parts.push(outcomeBlock(c)); // first: once resolved, the answer is what matters
  const facts = el("dl", { class: "case-facts" },
    ...row("tpl.age", c.age_band ? t("tpl.ageBand", { band: c.age_band }) : ""),
    ...row("tpl.sex", c.sex ? t(`tpl.sex.${c.sex}`) : ""),
    ...row("tpl.complaint", c.chief_complaint),
    ...row("tpl.history", c.history, "long"),
    ...row("tpl.findings", c.findings, "long"),
    ...row("tpl.question", c.summary, "long case-question"));
  parts.push(facts);
  if (c.images?.length) {
    parts.push(el("ul", { class: "thumbs", id: "case-thumbs" }, ...c.images.map((id, i) => {
      const src = `/api/v1/attachments/${encodeURIComponent(id)}`;
      const alt = t("cv.imageAlt", { n: i + 1 });
      const button = el("button", { type: "button", class: "thumb-btn", "aria-label": t("cv.viewImage", { n: i + 1 }) },
        el("img", { src, alt, loading: "lazy" }));
      button.addEventListener("click", () => {
        $("case-viewer-img").src = src;
        $("case-viewer-img").alt = alt;
        $("case-viewer").showModal();
      });
      return el("li", { class: "thumb" }, button);
    })));
  }
  if (uploadErrors.has(c.id)) parts.push(el("p", { class: "error", text: uploadErrors.get(c.id) }));
  if (c.metrics) {
    const m = c.metrics;
    parts.push(el("p", { class: "muted case-metrics", id: "case-metrics",
      text: [metricsLine(m), t("cv.firstResponse", { d: duration(m.time_to_first_response_s) }),
        m.time_to_resolution_s !== null ? t("cv.resolution", { d: duration(m.time_to_resolution_s) }) : null]
        .filter(Boolean).join(" · ") }));
  }
  if (full) parts.push(actionsBlock(c));
  parts.push(el("p", { id: "case-detail-error", class: "error", role: "alert" }));
  box.replaceChildren(el("details", { open: true, class: "case-detail-box" },
    el("summary", { text: t("cv.summary") }), ...parts));
  markHelpful(c);
}

function outcomeBlock(c) {
  const o = c.outcome;
  const block = el("section", { id: "case-outcome", class: "case-outcome", "aria-labelledby": "case-outcome-title" },
    el("h4", { id: "case-outcome-title", text: t("cv.outcome") }),
    el("dl", { class: "case-facts" },
      ...row("resolve.diagnosis", o.diagnosis, "outcome-diagnosis"),
      ...row("resolve.done", o.done, "long"),
      ...row("resolve.notes", o.notes, "long")));
  if (c.helpful?.length) {
    const room = ctx.rooms().get(c.room);
    block.append(el("p", { class: "helpful-list", text: t("cv.helpfulCount", { n: c.helpful.length }) }));
    const items = c.helpful.map((seq) => {
      const m = room?.messages.get(seq)?.data;
      return el("li", { "data-seq": String(seq),
        text: m ? `${m.author?.name || "?"}: ${(m.body || "").slice(0, 100)}` : t("msg.replyToUnknown", { seq }) });
    });
    block.append(el("ul", { class: "helpful-items" }, ...items));
  }
  return block;
}

/** Mark the credited answers in the chat (a data attribute app.js's rendering keeps). */
function markHelpful(c) {
  const room = ctx.rooms().get(c.room);
  if (!room) return;
  const helpful = new Set(c.helpful || []);
  for (const li of room.list.querySelectorAll("li.msg[data-seq]")) {
    if (helpful.has(Number(li.dataset.seq))) li.dataset.helpful = t("cv.helpfulMark");
    else delete li.dataset.helpful;
  }
}

function actionsBlock(c) {
  const actions = el("div", { class: "case-actions" });
  if (c.mine && (c.status === "open" || c.status === "claimed")) {
    const resolve = el("button", { type: "button", id: "case-resolve", class: "primary", text: t("resolve.open") });
    resolve.addEventListener("click", openResolve);
    actions.append(resolve);
  }
  if (c.mine && c.urgency === "urgent" && c.status === "resolved" && !c.published) {
    const publish = el("button", { type: "button", id: "case-publish", class: "link-btn", text: t("cv.publish") });
    publish.addEventListener("click", () => caseAction(c, "publish"));
    actions.append(publish);
  }
  if (c.mine && ["open", "claimed", "resolved"].includes(c.status)) {
    const close = el("button", { type: "button", id: "case-close", class: "link-btn", text: t("cv.close") });
    close.addEventListener("click", () => caseAction(c, "close"));
    actions.append(close);
  }
  if (c.mine && (c.status === "resolved" || c.status === "closed")) {
    const reopen = el("button", { type: "button", id: "case-reopen", class: "link-btn", text: t("cv.reopen") });
    reopen.addEventListener("click", () => caseAction(c, "reopen"));
    actions.append(reopen);
  }
  if (c.urgency === "urgent" && (c.status === "open" || c.status === "claimed" || c.status === "resolved")) {
    actions.append(inviteForm(c));
  }
  // Not my case: follow it to hear of its answers and changes in the inbox (inbox.js).
  if (!c.mine) {
    actions.append(followButton(c, (following) => {
      remember({ ...c, following });
      renderDetail();
      $("case-follow")?.focus();
    }));
  }
  return actions;
}

async function caseAction(c, action, body = {}) {
  $("case-detail-error").textContent = "";
  const reply = await api(`cases/${encodeURIComponent(c.id)}/${action}`, { method: "POST", body });
  if (!reply.ok) {
    $("case-detail-error").textContent = errorText(reply.error);
    return false;
  }
  await refreshShown();
  return true;
}

/** Bring a colleague into an urgent case: someone who spoke in a room I am in. */
function inviteForm(c) {
  const rooms = [...ctx.rooms().values()].filter((r) => r.id !== c.room && r.joined);
  const roomSelect = el("select", { id: "invite-room" });
  const whoSelect = el("select", { id: "invite-who" });
  roomSelect.replaceChildren(...rooms.map((r) => el("option", { value: r.id,
    text: r.id.startsWith("lounge-") ? (r.id === "lounge-general" ? t("lounge.general") : specialtyName(r.id.slice(7))) : (r.summary?.title || r.id) })));
  const fillWho = () => {
    const room = ctx.rooms().get(roomSelect.value);
    const people = new Map();
    for (const rec of room ? room.messages.values() : []) {
      const a = rec.data.author;
      if (a?.pseudonym && a.pseudonym !== room.me?.pseudonym) people.set(a.pseudonym, a.name);
    }
    whoSelect.replaceChildren(...[...people].map(([p, name]) => el("option", { value: p, text: name })));
  };
  roomSelect.addEventListener("change", fillWho);
  fillWho();
  const send = el("button", { type: "submit", id: "invite-send", text: t("cv.inviteSend") });
  const form = el("form", { id: "invite-form", class: "invite-form" },
    el("h4", { text: t("cv.invite") }),
    el("label", { for: "invite-room", text: t("cv.inviteRoom") }), roomSelect,
    el("label", { for: "invite-who", text: t("cv.inviteWho") }), whoSelect, send);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!roomSelect.value || !whoSelect.value) {
      $("case-detail-error").textContent = t("cv.inviteNone");
      return;
    }
    if (await caseAction(c, "invite", { room: roomSelect.value, pseudonym: whoSelect.value })) {
      $("case-detail-error").textContent = t("cv.invited");
    }
  });
  return form;
}

// --- Resolve: the outcome and the helpful answers -------------------------------------------------

function buildResolveDialog() {
  const form = el("form", { id: "resolve-form", class: "card", novalidate: true },
    el("h2", { id: "resolve-title", text: t("resolve.title") }),
    el("label", { for: "resolve-diagnosis", id: "resolve-diagnosis-label", text: t("resolve.diagnosis") }),
    el("input", { id: "resolve-diagnosis", type: "text", maxlength: OUTCOME_MAX, required: true }),
    el("label", { for: "resolve-done", id: "resolve-done-label", text: t("resolve.done") }),
    el("textarea", { id: "resolve-done", rows: 2, maxlength: OUTCOME_MAX }),
    el("label", { for: "resolve-notes", id: "resolve-notes-label", text: t("resolve.notes") }),
    el("textarea", { id: "resolve-notes", rows: 2, maxlength: OUTCOME_MAX }),
    el("fieldset", { id: "resolve-helpful", class: "resolve-helpful" }),
    el("div", { id: "resolve-phi", class: "phi-warning", role: "alert", hidden: true }),
    el("p", { id: "resolve-error", class: "error", role: "alert" }),
    el("div", { class: "dialog-buttons" },
      el("button", { type: "button", id: "resolve-cancel", class: "link-btn", text: t("post.cancel") }),
      el("button", { type: "submit", id: "resolve-submit", text: t("resolve.submit") })));
  document.body.append(el("dialog", { id: "resolve-dialog", class: "post-dialog", "aria-labelledby": "resolve-title" }, form));
  form.addEventListener("submit", submitResolve);
  form.addEventListener("input", () => {
    if (resolvePhi && resolveKey() !== resolvePhi.key) hideResolvePhi();
  });
  $("resolve-cancel").addEventListener("click", () => $("resolve-dialog").close());
}

function renderResolveStatic() {
  $("resolve-title").textContent = t("resolve.title");
  for (const f of ["diagnosis", "done", "notes"]) $(`resolve-${f}-label`).textContent = t(`resolve.${f}`);
  $("resolve-cancel").textContent = t("post.cancel");
  $("resolve-submit").textContent = t("resolve.submit");
}

function renderHelpfulChoices() {
  const c = shownCase();
  const room = c && ctx.rooms().get(c.room);
  const chosen = new Set([...$("resolve-helpful").querySelectorAll("input:checked")].map((i) => i.value));
  const answers = room ? [...room.messages.values()].map((r) => r.data)
    .filter((m) => !m.deleted && m.author?.pseudonym && m.author.pseudonym !== room.me?.pseudonym)
    .sort((a, b) => a.seq - b.seq) : [];
  const items = answers.map((m) => {
    const id = `helpful-${m.seq}`;
    return el("label", { class: "check helpful-choice", for: id },
      el("input", { type: "checkbox", id, value: String(m.seq), checked: chosen.has(String(m.seq)) }),
      el("span", { text: `${m.author.name}: ${(m.body || "").slice(0, 140)}` }));
  });
  $("resolve-helpful").replaceChildren(
    el("legend", { text: t("resolve.helpful", { max: HELPFUL_MAX }) }),
    ...(items.length ? items : [el("p", { class: "muted", text: t("resolve.noAnswers") })]));
}

function openResolve() {
  renderResolveStatic();
  renderHelpfulChoices();
  $("resolve-error").textContent = "";
  $("resolve-dialog").showModal();
  $("resolve-diagnosis").focus();
}

function resolveBody() {
  return {
    outcome: { diagnosis: $("resolve-diagnosis").value.trim(), done: $("resolve-done").value.trim(),
      notes: $("resolve-notes").value.trim() },
    helpful: [...$("resolve-helpful").querySelectorAll("input:checked")].map((i) => Number(i.value)),
  };
}

const resolveKey = () => JSON.stringify(resolveBody().outcome);

async function submitResolve(ev) {
  ev.preventDefault();
  const c = shownCase();
  if (!c) return;
  const body = resolveBody();
  if (!body.outcome.diagnosis) {
    $("resolve-error").textContent = t("resolve.missing");
    $("resolve-diagnosis").focus();
    return;
  }
  if (body.helpful.length > HELPFUL_MAX) {
    $("resolve-error").textContent = t("resolve.tooMany", { max: HELPFUL_MAX });
    return;
  }
  if (resolvePhi?.confirmed && resolvePhi.key === resolveKey()) body.confirm_phi = true;
  $("resolve-submit").disabled = true;
  $("resolve-error").textContent = "";
  try {
    const reply = await api(`cases/${encodeURIComponent(c.id)}/resolve`, { method: "POST", body });
    if (reply.status === 422 && reply.error?.code === "phi_detected") {
      const name = (reply.error.details?.field || "outcome.diagnosis").replace("outcome.", "");
      resolvePhi = { key: resolveKey(), field: name, findings: reply.error.details?.findings || [],
        text: body.outcome[name] || "", confirmed: false };
      renderResolvePhi();
      return;
    }
    if (!reply.ok) {
      $("resolve-error").textContent = errorText(reply.error);
      return;
    }
    hideResolvePhi();
    $("resolve-form").reset();
    $("resolve-dialog").close();
    await refreshShown();
  } finally {
    $("resolve-submit").disabled = false;
  }
}

function hideResolvePhi() {
  resolvePhi = null;
  $("resolve-phi").hidden = true;
  $("resolve-phi").replaceChildren();
}

function renderResolvePhi() {
  if (!resolvePhi) return;
  const kinds = [...new Set(resolvePhi.findings.map((f) => f.kind))].map(phiKindName);
  const anyway = el("button", { type: "button", id: "resolve-anyway", text: t("resolve.anyway") });
  anyway.addEventListener("click", () => {
    resolvePhi.confirmed = true;
    $("resolve-form").requestSubmit();
  });
  $("resolve-phi").replaceChildren(
    el("p", { class: "phi-title", text: t("tpl.phiTitle", { field: t(`resolve.${resolvePhi.field}`) }) }),
    el("p", { class: "phi-kinds", text: t("post.phiFound", { kinds: kinds.join(", ") }) }),
    markSpans(resolvePhi.text, resolvePhi.findings, phiKindName),
    el("div", { class: "phi-actions" }, anyway));
  $("resolve-phi").hidden = false;
}

// --- Lounge case cards: "Open the case" -----------------------------------------------------------

const openable = new Set(); // ids of routine cases announced in a lounge this session

/** Add "Open the case" to the lounge cards urgent.js drew (again after each of its redraws). */
function decorateCards() {
  for (const id of openable) {
    for (const card of document.querySelectorAll(`li.case-card[data-case="${CSS.escape(id)}"]`)) {
      if (card.querySelector(".case-open")) continue;
      const error = el("p", { class: "error", role: "alert" });
      const open = el("button", { type: "button", class: "link-btn case-open", text: t("cv.openCase") });
      open.addEventListener("click", () => openCase(id, error));
      card.append(el("div", { class: "case-open-row" }, open), error);
    }
  }
}

// --- Hooks called by app.js ---------------------------------------------------------------------

/** Build the screens and dialogs once, at boot. */
export function install(context) {
  ctx = context;
  buildScreens();
  dashboard.install({ specialtyName, duration });
}

/** A new session: learn my cases' rooms, so their case pages show when opened from anywhere. */
export async function onWelcome() {
  const reply = await api("cases?mine=1");
  if (reply.ok) for (const item of reply.data.cases) remember(item);
  if (shownRoom) {
    renderDetail();
    if (byRoom.has(shownRoom)) refreshShown();
  }
}

/** Observe the frames this module cares about; true only when no one else needs the frame. */
export function onEvent(frame) {
  const data = frame.data || {};
  switch (frame.type) {
    case "case.updated": {
      const c = known.get(data.case);
      if (c) remember({ ...c, status: data.status, helpful: data.helpful || [], outcome: data.outcome ?? c.outcome });
      else byRoom.set(data.room, data.case);
      if (shownRoom === data.room) {
        renderDetail();
        refreshShown(); // metrics and publish state, which the event does not carry
      }
      const item = feed.items.findIndex((i) => i.id === data.case);
      if (item >= 0) {
        feed.items[item] = { ...feed.items[item], status: data.status };
        renderFeed();
      }
      const onHome = homeFeed.items.findIndex((i) => i.id === data.case);
      if (onHome >= 0) {
        homeFeed.items[onHome] = { ...homeFeed.items[onHome], status: data.status };
        renderHomeFeed();
      }
      return true;
    }
    case "case.posted":
      if (data.case?.id && data.case.room) byRoom.set(data.case.room, data.case.id);
      // A routine (or published) case: every card in the lounge gets a way in.
      if (!data.offer && data.case?.id) {
        openable.add(data.case.id);
        setTimeout(() => decorateCards(), 0); // after urgent.js has drawn the card
      }
      return false; // urgent.js draws the card
    case "offer.new":
      if (data.case?.id && data.case.room) byRoom.set(data.case.room, data.case.id);
      return false; // urgent.js draws the offer
    case "message.new":
      if (frame.room === shownRoom && shownCase()) setTimeout(() => markHelpful(shownCase()), 0);
      return false;
    default:
      return false;
  }
}

/** After `rooms.list` (a reload, a reconnect): which of my rooms are case rooms, so a case
 * room reopened from storage shows its case again, not only its messages. */
export function onRooms(rooms) {
  for (const r of rooms) if (r.case?.id) byRoom.set(r.id, r.case.id);
  const id = shownRoom ? byRoom.get(shownRoom) : null;
  if (id && !("mine" in (known.get(id) || {}))) onRoomShown(shownRoom); // fetch it once
}

export function onRoomShown(roomId) {
  shownRoom = roomId;
  if (view !== "chat") showView("chat");
  renderDetail();
  const id = byRoom.get(roomId);
  if (id && !("mine" in (known.get(id) || {}))) {
    // Known only by id or as a feed card: fetch the full case.
    api(`cases/${encodeURIComponent(id)}`).then((reply) => {
      if (reply.ok) remember(reply.data.case);
      if (shownRoom === roomId) renderDetail();
    });
  } else if (id) {
    refreshShown();
  }
}

/** Language or specialty names changed: draw everything again. */
export function rerender() {
  if (!ctx) return;
  renderFilters();
  renderFeed();
  renderHomeFeed();
  renderPostOptions();
  renderResolveStatic();
  renderResolvePhi();
  if ($("resolve-dialog").open) renderHelpfulChoices();
  $("case-viewer").setAttribute("aria-label", t("viewer.label"));
  renderDetail();
  decorateCards();
  dashboard.rerender();
}

/** Logged out: forget everything of this user. */
export function reset() {
  known.clear();
  byRoom.clear();
  openable.clear();
  uploadErrors.clear();
  feed.items = [];
  feed.next = null;
  feed.generation += 1;
  homeFeed.items = [];
  homeFeed.loaded = false;
  homeFeed.error = "";
  homeFeed.generation += 1;
  shownRoom = null;
  for (const id of ["tpl-dialog", "resolve-dialog", "case-viewer"]) if ($(id)?.open) $(id).close();
  if ($("feed-view")) {
    $("feed-view").hidden = true;
    $("dashboard-view").hidden = true;
  }
  view = "chat";
  if ($("tpl-form")) clearDraft();
  dashboard.reset();
  renderDetail();
}
