// Urgent cases and on-call: the status control, the poster's routing
// timeline, incoming offers, and case cards in the lounges.
//
// app.js calls the hooks at the bottom (install, onWelcome, onEvent, onRoomShown, rerender,
// reset, caseSpecialty); this module never reaches into app.js's state otherwise.
// Same safety rule as everywhere: server and user text only through el() / textContent.

import * as alerts from "./alerts.js";
import { jsonHeaders } from "./csrf.js";
import { $, el } from "./dom.js";
import { has, language, t } from "./i18n.js";

// An offer whose deadline passed this long ago without offer.closed (missed while offline)
// is dropped locally.
const STALE_OFFER_S = 10;

let ctx = null; // {conn, openRoom(id), rooms(), specialties(), specialtyName(slug)}
let skew = 0; // server clock minus ours, in seconds (from session.welcome)
let ticker = null;
let shownRoom = null;
let presence = { status: null, on_call: false };
const cases = new Map(); // case id → {id, card, mine, status, steps: [event data]}
const offers = new Map(); // case id → {offer, card, tier, expiresAt, node}
const loungeCards = new Map(); // case id → {data, node}
// Cases this tab is accepting or declining right now: their offer.closed (which can arrive
// before our own reply) is this tab's own doing, not news "from another tab".
const acting = new Set();

const serverNow = () => Date.now() / 1000 + skew;
const specialtyName = (slug) => ctx.specialtyName(slug) || slug;
const errorText = (error) => {
  const key = `error.${error?.code}`;
  return has(key) ? t(key) : error?.message || t("error.generic");
};

function caseRecord(id) {
  let rec = cases.get(id);
  if (!rec) {
    rec = { id, card: null, mine: false, status: null, steps: [] };
    cases.set(id, rec);
  }
  return rec;
}

function knowCase(card, { mine = false, status = null } = {}) {
  const rec = caseRecord(card.id);
  rec.card = card;
  rec.mine = rec.mine || mine;
  rec.status = status || rec.status || card.status || null;
  renderCaseList();
  return rec;
}

function roomCase(roomId) {
  for (const rec of cases.values()) if (rec.card?.room === roomId) return rec;
  return null;
}

// --- Presence: status and on call -----------------------------------------------------------

function renderPresence() {
  $("presence-status").value = presence.status || "available";
  $("on-call").checked = Boolean(presence.on_call);
  $("presence").dataset.status = presence.status || "";
}

async function setPresence(args) {
  $("presence-status").disabled = true;
  $("on-call").disabled = true;
  const reply = await ctx.conn.request("presence.set", args);
  $("presence-status").disabled = false;
  $("on-call").disabled = false;
  if (reply.ok) presence = reply.data;
  else notice(() => errorText(reply.error));
  if (reply.ok && presence.on_call) alerts.askOnce();
  renderPresence(); // the server's answer, or back to what it last said
}

// --- Posting a case ------------------------------------------------------------------------
// The dialog is cases.js's structured template (urgency is one of its fields); it tells this
// module about the posted case, for my cases and the routing timeline of an urgent one.

/** A case I just posted (from this tab). */
export function knowPosted(card) {
  knowCase(card, { mine: true, status: card.status });
  renderCasePanel();
}

// --- The case panel: summary, routing timeline, withdraw -------------------------------------

function stepNode(step, card) {
  const p = { tier: step.tier, n: step.count, specialty: specialtyName(card.specialty) };
  const li = el("li", { "data-step": step.step });
  if (step.at) {
    li.append(el("time", { text: step.at.toLocaleTimeString(language(), { hour: "2-digit", minute: "2-digit", second: "2-digit" }) }));
  }
  let text;
  if (step.step === "offered") text = t(step.count === 1 ? "case.step.offered.one" : "case.step.offered.other", p);
  else if (step.step === "posted") text = t(`case.step.posted.${step.urgency}`, p);
  else text = has(`case.step.${step.step}`) ? t(`case.step.${step.step}`, p) : step.step;
  li.append(el("span", { class: "step-text", text }));
  if (step.step === "accepted" && step.by) {
    li.append(" ", el("span", { class: "author", title: step.by.pseudonym, text: step.by.name }));
    if (step.by.verified) li.append(" ", el("span", { class: "badge verified", text: t("verified") }));
    if (step.by.specialty) li.append(" ", el("span", { class: "specialty", text: specialtyName(step.by.specialty) }));
  }
  return li;
}

function renderCasePanel() {
  const rec = shownRoom ? roomCase(shownRoom) : null;
  const panel = $("case-panel");
  panel.hidden = !rec;
  if (!rec) return;
  const card = rec.card;
  panel.dataset.case = rec.id;
  panel.dataset.status = rec.status || "";
  const meta = [
    el("span", { class: `badge ${card.urgency}`, text: t(`case.urgency.${card.urgency}`) }),
    el("span", { class: "specialty", text: specialtyName(card.specialty) }),
    el("span", { class: "muted", text: t(`langname.${card.language}`) }),
  ];
  if (rec.status === "withdrawn") meta.push(el("span", { class: "badge withdrawn", text: t("case.withdrawn") }));
  $("case-meta").replaceChildren(...meta);
  $("case-summary").textContent = card.summary;
  $("case-timeline-wrap").hidden = !rec.mine;
  if (rec.mine) {
    const posted = { step: "posted", urgency: card.urgency, at: new Date(card.posted_at) };
    $("case-timeline").replaceChildren(stepNode(posted, card), ...rec.steps.map((s) => stepNode(s, card)));
  }
  $("case-withdraw").hidden = !rec.mine || rec.status === "withdrawn" || rec.status === "resolved";
}

async function withdrawShown() {
  const rec = shownRoom ? roomCase(shownRoom) : null;
  if (!rec) return;
  $("case-withdraw").disabled = true;
  $("case-error").textContent = "";
  try {
    const res = await fetch(`/api/v1/cases/${encodeURIComponent(rec.id)}/withdraw`, {
      method: "POST", credentials: "same-origin", headers: jsonHeaders(), body: "{}",
    });
    if (res.ok) rec.status = "withdrawn";
    else $("case-error").textContent = errorText((await res.json().catch(() => ({}))).error);
  } catch {
    $("case-error").textContent = t("post.failed");
  } finally {
    $("case-withdraw").disabled = false;
    renderCasePanel();
  }
}

export function renderCaseList() {
  if (!ctx) return;
  const mine = [...cases.values()].filter((r) => r.card);
  $("cases-title").hidden = mine.length === 0;
  $("cases-mine").replaceChildren(...mine.map((r) => {
    const label = `${r.card.urgency === "urgent" ? "⚡ " : ""}${specialtyName(r.card.specialty)}: ${r.card.summary.slice(0, 40)}`;
    const button = el("button", { type: "button", class: "room-btn", "data-room": r.card.room,
      "aria-current": shownRoom === r.card.room ? "page" : null }, el("span", { class: "case-label", text: label }));
    const n = shownRoom === r.card.room ? 0 : ctx.unread(r.card.room);
    if (n) button.append(el("span", { class: "unread", text: String(n), "aria-label": t("unread.n", { n }) }));
    button.addEventListener("click", () => ctx.openRoom(r.card.room));
    return el("li", {}, button);
  }));
  renderHome();
}

// --- The home's share: open offers (with their countdown) and my cases by status ------------

const CASE_GROUPS = ["open", "claimed", "resolved", "withdrawn"];

export function renderHome() {
  if (!ctx || $("home").hidden) return;
  const items = [...offers.values()].map((o) => {
    const accept = el("button", { type: "button", class: "accept", text: t("offer.accept") });
    const error = el("p", { class: "error", role: "alert" });
    accept.addEventListener("click", () => acceptOffer(o.offer, o.card, error));
    return el("li", { class: "home-offer", "data-case": o.card.id },
      el("span", { class: "home-offer-title", text: t("offer.title", { specialty: specialtyName(o.card.specialty) }) }),
      el("span", { class: "offer-countdown", text: countdown(o.expiresAt) }),
      el("span", { class: "home-offer-summary", text: o.card.summary }),
      el("span", { class: "offer-actions" }, accept), error);
  });
  $("home-offers").replaceChildren(...(items.length ? items : [el("li", { class: "muted", text: t("home.offers.none") })]));
  const known = [...cases.values()].filter((r) => r.card);
  const groups = CASE_GROUPS.map((status) => {
    const recs = known.filter((r) => (r.status || "open") === status);
    if (!recs.length) return null;
    return el("section", { class: "case-group", "data-status": status },
      el("h4", { text: t(`home.cases.${status}`) }),
      el("ul", { class: "home-list" }, ...recs.map((r) => {
        const button = el("button", { type: "button", class: "room-btn", "data-room": r.card.room },
          el("span", { class: "case-label", text: `${r.card.urgency === "urgent" ? "⚡ " : ""}${specialtyName(r.card.specialty)}: ${r.card.summary.slice(0, 60)}` }),
          el("span", { class: "muted", text: t(r.mine ? "home.cases.posted" : "home.cases.consulting") }));
        const n = ctx.unread(r.card.room);
        if (n) button.append(el("span", { class: "unread", text: String(n), "aria-label": t("unread.n", { n }) }));
        button.addEventListener("click", () => ctx.openRoom(r.card.room));
        return el("li", {}, button);
      })));
  }).filter(Boolean);
  $("home-cases").replaceChildren(...(groups.length ? groups : [el("p", { class: "muted", text: t("home.cases.none") })]));
}

async function onRouting(data) {
  const rec = caseRecord(data.case);
  rec.mine = true; // case.routing goes to the poster only
  rec.steps.push({ ...data, at: new Date() });
  if (data.step === "accepted") rec.status = "claimed";
  if (data.step === "withdrawn") rec.status = "withdrawn";
  if (!rec.card && !rec.fetching) {
    // Posted from another tab: fetch the case so this tab can show it too.
    rec.fetching = true;
    try {
      const res = await fetch(`/api/v1/cases/${encodeURIComponent(data.case)}`, { credentials: "same-origin" });
      if (res.ok) knowCase((await res.json()).case, { mine: true });
    } catch {
      // The timeline still shows once the case is known.
    }
  }
  renderCasePanel();
}

// --- Offers --------------------------------------------------------------------------------

function countdown(expiresAt) {
  const left = Math.ceil(expiresAt - serverNow());
  if (left <= 0) return t("offer.expiring");
  const m = Math.floor(left / 60);
  return t("offer.expires", { time: `${m}:${String(left % 60).padStart(2, "0")}` });
}

function tick() {
  for (const [id, o] of offers) {
    if (serverNow() - o.expiresAt > STALE_OFFER_S) {
      removeOffer(id);
      continue;
    }
    const node = o.node.querySelector(".offer-countdown");
    node.textContent = countdown(o.expiresAt);
    node.dataset.late = String(o.expiresAt - serverNow() < 15);
    const home = $("home-offers").querySelector(`[data-case="${CSS.escape(id)}"] .offer-countdown`);
    if (home) home.textContent = node.textContent;
  }
  if (!offers.size) {
    clearInterval(ticker);
    ticker = null;
  }
}

function renderOffer(o) {
  const id = o.card.id;
  const title = `offer-title-${id}`;
  const summary = `offer-summary-${id}`;
  const accept = el("button", { type: "button", class: "accept", text: t("offer.accept") });
  const decline = el("button", { type: "button", class: "decline", text: t("offer.decline") });
  accept.addEventListener("click", () => acceptOffer(o.offer, o.card, o.node.querySelector(".error")));
  decline.addEventListener("click", () => declineOffer(o));
  o.node.replaceChildren(
    el("h2", { id: title, text: t("offer.title", { specialty: specialtyName(o.card.specialty) }) }),
    el("p", { class: "offer-meta", text: t("offer.meta", { tier: o.tier, language: t(`langname.${o.card.language}`) }) }),
    el("p", { id: summary, class: "offer-summary", text: o.card.summary }),
    el("p", { class: "offer-countdown", text: countdown(o.expiresAt) }),
    el("p", { class: "error", role: "alert" }),
    el("div", { class: "offer-actions" }, accept, decline),
  );
  o.node.setAttribute("aria-labelledby", title);
  o.node.setAttribute("aria-describedby", summary);
}

function onOfferNew(data) {
  removeOffer(data.case.id);
  const node = el("article", { class: "offer", role: "alertdialog", "aria-modal": "false", "data-case": data.case.id, "data-offer": data.offer });
  const o = { offer: data.offer, card: data.case, tier: data.tier, expiresAt: data.expires_at, node };
  offers.set(data.case.id, o);
  renderOffer(o);
  $("offers").append(node);
  renderHome();
  // Announced, not focused: focus jumping to "Accept" while someone types could accept by accident.
  $("offer-announce").textContent = `${t("offer.title", { specialty: specialtyName(data.case.specialty) })}. ${data.case.summary}`;
  alerts.offerRaised(data.case.id, t("offer.title", { specialty: specialtyName(data.case.specialty) }),
    data.case.summary, offers.size);
  if (!ticker) ticker = setInterval(tick, 1000);
}

function removeOffer(caseId) {
  const o = offers.get(caseId);
  if (!o) return null;
  offers.delete(caseId);
  o.node.remove();
  alerts.offerGone(caseId, offers.size);
  renderHome();
  return o;
}

async function acceptOffer(offer, card, errorNode) {
  for (const b of errorNode.parentNode.querySelectorAll("button")) b.disabled = true;
  acting.add(card.id);
  const reply = await ctx.conn.request("offer.accept", { offer });
  acting.delete(card.id);
  if (reply.ok) {
    removeOffer(card.id);
    knowCase(card, { status: "claimed" });
    ctx.openRoom(reply.data.room);
    return;
  }
  const text = reply.error.code === "conflict" ? t("offer.taken") : errorText(reply.error);
  errorNode.textContent = text;
  if (reply.error.code === "conflict") {
    // Taken meanwhile (its offer.closed may have removed the card already): say so.
    removeOffer(card.id);
    notice(() => t("offer.taken"));
  }
  for (const b of errorNode.parentNode.querySelectorAll("button")) b.disabled = reply.error.code === "conflict";
}

async function declineOffer(o) {
  acting.add(o.card.id);
  const reply = await ctx.conn.request("offer.decline", { offer: o.offer });
  acting.delete(o.card.id);
  if (reply.ok) removeOffer(o.card.id);
  else o.node.querySelector(".error").textContent = errorText(reply.error);
}

function onOfferClosed(data) {
  const o = removeOffer(data.case);
  // Closed here already, or closing because of this tab's own accept or decline (the event
  // can beat the reply): nothing to tell.
  if (!o || acting.has(data.case)) return;
  if (data.reason === "accepted") {
    knowCase(o.card, { status: "claimed" });
    notice(() => t("offer.acceptedElsewhere"), o.card.room);
  } else if (data.reason === "declined") notice(() => t("offer.declinedElsewhere"));
  else if (has(`offer.closed.${data.reason}`)) notice(() => t(`offer.closed.${data.reason}`));
}

let noticeText = null; // () → the notice in the current language (redrawn on a switch)

function notice(text, room = null) {
  noticeText = text;
  $("urgent-notice").hidden = false;
  $("urgent-notice-text").textContent = text();
  const open = $("urgent-notice-open");
  open.hidden = !room;
  open.dataset.room = room || "";
}

// --- Case cards in the lounges --------------------------------------------------------------

function renderLoungeCard(rec) {
  const { data, node } = rec;
  const card = data.case;
  const meta = el("div", { class: "meta" },
    el("span", { class: `badge ${card.urgency}`, text: t(`case.urgency.${card.urgency}`) }),
    el("span", { class: "specialty", text: specialtyName(card.specialty) }),
    el("span", { class: "muted", text: t(`langname.${card.language}`) }),
    el("time", { datetime: card.posted_at, text: new Date(card.posted_at).toLocaleTimeString(language(), { hour: "2-digit", minute: "2-digit" }) }));
  const parts = [el("p", { class: "case-kind", text: t(data.offer ? "lounge.call" : "lounge.case") }), meta,
    el("p", { class: "case-summary", text: card.summary })];
  const error = el("p", { class: "error", role: "alert" });
  if (data.offer && !cases.get(card.id)?.mine) {
    const accept = el("button", { type: "button", class: "accept", text: t("offer.accept") });
    accept.addEventListener("click", () => acceptOffer(data.offer, card, error));
    parts.push(el("div", { class: "offer-actions" }, accept));
  }
  parts.push(error);
  node.replaceChildren(...parts);
}

function onCasePosted(roomId, data) {
  const room = ctx.rooms().get(roomId);
  if (!room) return;
  const prior = loungeCards.get(data.case.id);
  if (prior) prior.node.remove();
  // Placed after the messages seen so far: a half seq keeps app.js's seq ordering intact.
  const seq = room.lastSeq + 0.5;
  const node = el("li", { class: "msg case-card", "data-case": data.case.id, "data-seq": String(seq) });
  const rec = { data, node };
  loungeCards.set(data.case.id, rec);
  renderLoungeCard(rec);
  const before = [...room.list.children].find((c) => !c.dataset.seq || Number(c.dataset.seq) > seq) || null;
  room.list.insertBefore(node, before);
  room.list.dataset.empty = "false";
}

// --- Hooks called by app.js -----------------------------------------------------------------

/** Wire the controls once, at boot. */
export function install(context) {
  ctx = context;
  alerts.install();
  $("presence-status").addEventListener("change", (ev) => setPresence({ status: ev.target.value }));
  $("on-call").addEventListener("change", (ev) => setPresence({ on_call: ev.target.checked }));
  $("case-withdraw").addEventListener("click", withdrawShown);
  $("urgent-notice-close").addEventListener("click", () => {
    $("urgent-notice").hidden = true;
  });
  $("urgent-notice-open").addEventListener("click", (ev) => {
    $("urgent-notice").hidden = true;
    if (ev.target.dataset.room) ctx.openRoom(ev.target.dataset.room);
  });
}

/** A new session: learn the server clock and read status and on-call (an empty presence.set). */
export async function onWelcome(data) {
  if (typeof data.server_time === "number") skew = data.server_time - Date.now() / 1000;
  $("presence").hidden = false;
  // Until the server says where we stand, a click could only be undone by its answer.
  $("presence-status").disabled = true;
  $("on-call").disabled = true;
  const [reply, open] = await Promise.all([ctx.conn.request("presence.set", {}), ctx.conn.request("offers.list")]);
  $("presence-status").disabled = false;
  $("on-call").disabled = false;
  if (reply.ok) presence = reply.data;
  renderPresence();
  if (open.ok) restoreOffers(open.data.offers);
}

/** After a (re)connect: show the offers still open to me, drop those that closed meanwhile. */
function restoreOffers(list) {
  const open = new Set(list.map((o) => o.case.id));
  for (const id of [...offers.keys()]) if (!open.has(id)) removeOffer(id);
  for (const data of list) if (!offers.has(data.case.id)) onOfferNew(data);
}

/** rooms.list's case rooms: my cases (posted or consulting), with their status. */
export function onRooms(entries) {
  for (const r of entries) if (r.case) knowCase(r.case, { mine: r.case_mine, status: r.case_status });
  for (const r of entries) if (r.case) caseRecord(r.case.id).status = r.case_status;
  renderCasePanel();
  renderCaseList();
}

/** Handle the events that are this module's; true when the frame was one of them. */
export function onEvent(frame) {
  const data = frame.data || {};
  switch (frame.type) {
    case "offer.new":
      onOfferNew(data);
      return true;
    case "offer.closed":
      onOfferClosed(data);
      return true;
    case "case.routing":
      onRouting(data);
      return true;
    case "case.posted":
      onCasePosted(frame.room, data);
      return true;
    default:
      return false;
  }
}

export function onRoomShown(roomId) {
  shownRoom = roomId;
  renderCasePanel();
  renderCaseList();
}

/** The specialty of a case room this client knows, for its title before the join reply. */
export function caseSpecialty(roomId) {
  return roomCase(roomId)?.card?.specialty || null;
}

/** Language or specialty names changed: draw everything again. */
export function rerender() {
  if (!ctx) return;
  if (noticeText && !$("urgent-notice").hidden) $("urgent-notice-text").textContent = noticeText();
  alerts.renderAlertControls();
  alerts.updateTitle();
  renderPresence();
  for (const o of offers.values()) renderOffer(o);
  for (const rec of loungeCards.values()) renderLoungeCard(rec);
  renderCasePanel();
  renderCaseList();
}

/** Logged out: forget everything of this user. */
export function reset() {
  for (const id of [...offers.keys()]) removeOffer(id);
  cases.clear();
  loungeCards.clear();
  shownRoom = null;
  presence = { status: null, on_call: false };
  alerts.reset();
  $("presence").hidden = true;
  $("urgent-notice").hidden = true;
  renderCasePanel();
  renderCaseList();
}
