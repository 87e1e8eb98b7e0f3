// Curbside web client: login, lounges, messages. The socket lives in connection.js, the
// urgent-case and on-call parts in urgent.js.
//
// Safety rule: text from the server or the user is only ever put into the page with
// textContent / Text nodes (el() in dom.js), never parsed as HTML.
//
// Ordering rule (PROTOCOL.md "Ordering and delivery"): each room keeps `lastSeq`, the seq up
// to which it holds every message. A message.new with seq <= lastSeq is a duplicate and is
// dropped; one beyond lastSeq + 1 reveals a gap, and the room is re-joined with
// `since=lastSeq`, whose reply is merged by seq. After a reconnect every room is re-joined
// the same way, and sends still waiting for their reply are sent again with the same
// client_id (the server stores a client_id once).

import { jsonHeaders } from "./csrf.js";
import { Connection } from "./connection.js";
import { $, el, markSpans, utf16Index } from "./dom.js";
import { has, initialLanguage, language, phiKindName, setLanguage, t, translatePage } from "./i18n.js";
import * as account from "./account.js";
import * as chatimages from "./chatimages.js";
import * as mentions from "./mentions.js";
import * as moderate from "./moderate.js";
import * as profile from "./profile.js";
import * as urgent from "./urgent.js";
import * as cases from "./cases.js";
import * as polls from "./polls.js";
import * as search from "./search.js";
import * as verify from "./verify.js";
import * as inbox from "./inbox.js";

const GENERAL = "lounge-general";
const loungeId = (slug) => `lounge-${slug}`;
const TYPING_SEND_EVERY_MS = 2500;
const TYPING_SHOW_MS = 4000;
const HISTORY_PAGE = 50;
// Consecutive re-joins of one room that found nothing new before we stop chasing a gap.
const MAX_FRUITLESS_RESUMES = 3;

// --- State --------------------------------------------------------------------------------

const state = {
  me: null, // session.welcome.me
  specialties: [], // [{slug, name, parent}] in the current language
  specialtyNames: new Map(), // slug → name
  rooms: new Map(), // room id → Room
  current: null, // the Room on screen
  replyTo: null, // {room, seq} the next message answers
  status: null, // [key, params] of the connection line, kept to re-translate it
  lastTypingSent: 0,
  phi: null, // {roomId, entry, findings}: a send the PHI guard refused, awaiting the author
  list: new Map(), // room id → rooms.list entry {id, kind, last_seq, last_read_seq, case?, …}
  restored: false, // the last room was reopened (once per page load)
  reading: new Set(), // rooms with a `read` in flight
};

class Room {
  constructor(id) {
    this.id = id;
    this.wanted = true; // the user opened it: join again after every reconnect
    this.joined = false;
    this.joining = false;
    this.rejoin = false; // a gap was seen while a join was in flight
    this.fruitless = 0;
    this.lastSeq = 0;
    this.everJoined = false;
    this.messages = new Map(); // seq → {data, el}
    this.pending = new Map(); // client_id → {clientId, body, replyTo, el, inflight}
    this.me = null; // my author card in this room
    this.summary = null;
    this.more = false; // older history exists
    this.mentioned = false;
    this.typers = new Map(); // pseudonym → {name, timer}
    this.list = el("ol", { class: "msg-list", "data-room": id });
  }

  oldestSeq() {
    return this.messages.size ? Math.min(...this.messages.keys()) : null;
  }

  /** Move lastSeq over every message we hold contiguously. */
  advance() {
    while (this.messages.has(this.lastSeq + 1)) this.lastSeq += 1;
  }

  hasGap() {
    for (const seq of this.messages.keys()) if (seq > this.lastSeq) return true;
    return false;
  }
}

const isModerator = () => (state.me?.roles || []).some((r) => r === "moderator" || r === "admin");

// --- Connection ---------------------------------------------------------------------------

const conn = new Connection({
  onEvent: (frame) => onEvent(frame),
  onDown: () => onSocketDown(),
  onStatus: (key, params) => setStatus(key, params),
  onEnded: (code) => sessionEnded(code),
});

// --- Server events ------------------------------------------------------------------------

function onEvent(frame) {
  if (frame.type === "session.welcome") return onWelcome(frame.data);
  if (moderate.onEvent(frame)) return undefined; // report.filed (moderators)
  if (cases.onEvent(frame)) return undefined; // case.updated (case rooms)
  if (polls.onEvent(frame)) return undefined; // poll.updated (case rooms, lounges)
  if (inbox.onEvent(frame)) return undefined; // notification.new
  if (urgent.onEvent(frame)) return undefined; // offers, case routing, lounge case cards
  const room = state.rooms.get(frame.room);
  if (!room) return;
  const data = frame.data || {};
  switch (frame.type) {
    case "message.new":
      return onMessageNew(room, frame.seq, data);
    case "message.edited":
      return patchMessage(room, data.seq, { body: data.body, edited: true });
    case "message.deleted":
      return patchMessage(room, data.seq, { body: "", deleted: true, attachments: [] });
    case "message.hidden":
      return patchMessage(room, data.seq, isModerator() ? { hidden: true } : { hidden: true, body: "" });
    case "message.unhidden":
      return refetchOne(room, data.seq);
    case "typing":
      return onTyping(room, data.author);
    case "room.members":
      // Live member count (a new member, or one who left for good).
      if (room.summary) room.summary.members = data.members;
      if (room === state.current) renderRoomHead();
      return undefined;
    case "room.removed":
      // Kicked or banned: stop re-joining it; what was shown stays readable.
      room.wanted = false;
      room.joined = false;
      if (room === state.current) $("composer-error").textContent = t("room.removed");
      return undefined;
    case "mention":
      if (room !== state.current) {
        room.mentioned = true;
        renderSidebar();
      }
      return undefined;
    default:
      return undefined;
  }
}

function onWelcome(data) {
  state.me = data.me;
  $("who-name").textContent = data.me.display_name;
  $("who-verified").hidden = !data.me.verified;
  $("who").hidden = false;
  setStatus("conn.online");
  renderSidebar();
  urgent.onWelcome(data);
  cases.onWelcome(data);
  inbox.onWelcome(data);
  search.onWelcome(data);
  moderate.onWelcome();
  // Resume: every room the user had open is joined again from where it stopped.
  for (const room of state.rooms.values()) if (room.wanted) joinRoom(room);
  loadRoomList();
}

// --- The home: my rooms, unread counts, the last room -------------------------------------
// After every welcome (a reload, or any reconnect) `rooms.list` says which rooms I belong to,
// their read markers and my cases; urgent.js asks `offers.list` the same way.

const lastRoomKey = () => `curbside.room.${state.me?.id || ""}`;

async function loadRoomList() {
  const reply = await conn.request("rooms.list");
  if (!reply.ok) return;
  state.list = new Map(reply.data.rooms.map((r) => [r.id, r]));
  urgent.onRooms(reply.data.rooms);
  inbox.onRooms(reply.data.rooms);
  cases.onRooms(reply.data.rooms);
  if (!state.restored) {
    state.restored = true;
    let last = null;
    try {
      last = localStorage.getItem(lastRoomKey());
    } catch {
      // No storage: start at home.
    }
    if (!state.current && last && (last.startsWith("lounge-") || state.list.has(last))) openRoom(last, { focus: false });
  }
  if (state.current) markRead(state.current);
  renderSidebar();
  renderHome();
  cases.loadHomeFeed();
}

const unread = (id) => {
  const entry = state.list.get(id);
  return entry ? Math.max(0, entry.last_seq - entry.last_read_seq) : 0;
};

/** What a room's entry knows of its newest seq, from events and join replies. */
function noteSeq(roomId, seq, readToo = false) {
  let entry = state.list.get(roomId);
  if (!entry) {
    entry = { id: roomId, last_seq: 0, last_read_seq: 0 };
    state.list.set(roomId, entry);
  }
  entry.last_seq = Math.max(entry.last_seq, seq);
  if (readToo) entry.last_read_seq = Math.max(entry.last_read_seq, seq);
}

/** The room on screen, read up to what it holds: tell the server (one `read` at a time). */
async function markRead(room) {
  if (!room.joined || document.visibilityState === "hidden" || state.reading.has(room.id)) return;
  const entry = state.list.get(room.id);
  if (entry && entry.last_read_seq >= room.lastSeq) return;
  state.reading.add(room.id);
  const seq = room.lastSeq;
  const reply = await conn.request("read", { room: room.id, seq });
  state.reading.delete(room.id);
  if (reply.ok) noteSeq(room.id, seq, true);
  renderSidebar();
  if (reply.ok && room === state.current && room.lastSeq > seq) markRead(room);
}

function showHome() {
  state.current = null;
  state.replyTo = null;
  try {
    localStorage.removeItem(lastRoomKey());
  } catch {
    // Private mode.
  }
  $("messages").replaceChildren();
  urgent.onRoomShown(null);
  cases.onRoomShown(null); // the case page goes with its room
  polls.onRoomShown(null);
  inbox.onRoomShown(null);
  renderRoomHead();
  renderSidebar();
  renderHome();
  cases.loadHomeFeed();
  setDrawer(false);
}

function homeItem(id, label, count = 0) {
  const button = el("button", { type: "button", class: "room-btn", "data-room": id }, label);
  if (count) button.append(el("span", { class: "unread", text: String(count), "aria-label": t("unread.n", { n: count }) }));
  button.addEventListener("click", () => openRoom(id));
  return el("li", {}, button);
}

function renderHome() {
  const home = !state.current;
  $("home").hidden = !home;
  for (const id of ["messages", "composer", "typing"]) $(id).hidden = home;
  if (home) $("load-earlier").hidden = true;
  const unreadRooms = [...state.list.values()].filter((r) => unread(r.id) > 0);
  $("home-unread").replaceChildren(...(unreadRooms.length
    ? unreadRooms.map((r) => homeItem(r.id, roomTitle(r.id, r), unread(r.id)))
    : [el("li", { class: "muted", text: t("home.unread.none") })]));
  $("home-lounges").replaceChildren(...ownLounges().map(([id, label]) => homeItem(id, label, unread(id))));
  urgent.renderHome();
  cases.renderHomeFeed();
}

/** My specialties, the main one first. */
const mySpecialties = () => [...new Set((state.me ? [state.me.specialty, ...(state.me.specialties || [])] : []).filter(Boolean))];

function ownLounges() {
  const out = [[GENERAL, t("lounge.general")]];
  for (const slug of mySpecialties()) out.push([loungeId(slug), state.specialtyNames.get(slug) || slug]);
  return out;
}

function onSocketDown() {
  for (const room of state.rooms.values()) {
    room.joined = false;
    room.joining = false;
    for (const entry of room.pending.values()) entry.inflight = false;
  }
}

function onMessageNew(room, seq, data) {
  if (seq <= room.lastSeq) return; // already shown: a duplicate delivery
  upsert(room, data);
  const mine = data.author?.pseudonym && data.author.pseudonym === room.me?.pseudonym;
  noteSeq(room.id, seq, mine);
  if (room.joining) return; // the join reply decides what is contiguous
  room.advance();
  if (room.hasGap()) resume(room);
  if (room === state.current) markRead(room);
  else {
    renderSidebar();
    if (!state.current) renderHome();
  }
}

function patchMessage(room, seq, changes) {
  const rec = room.messages.get(seq);
  if (!rec) return;
  rec.data = { ...rec.data, ...changes };
  renderMessage(room, rec);
}

async function refetchOne(room, seq) {
  const reply = await conn.request("room.history", { room: room.id, before: seq + 1, limit: 1 });
  if (reply.ok) for (const m of reply.data.messages) if (m.seq === seq) upsert(room, m);
}

function onTyping(room, author) {
  if (!author || author.pseudonym === room.me?.pseudonym) return;
  const prior = room.typers.get(author.pseudonym);
  if (prior) clearTimeout(prior.timer);
  const timer = setTimeout(() => {
    room.typers.delete(author.pseudonym);
    renderTyping();
  }, TYPING_SHOW_MS);
  room.typers.set(author.pseudonym, { name: author.name, timer });
  renderTyping();
}

// --- Rooms: join, resume, history ---------------------------------------------------------

function openRoom(id, { focus = true } = {}) {
  let room = state.rooms.get(id);
  if (!room) {
    room = new Room(id);
    state.rooms.set(id, room);
  }
  room.wanted = true;
  room.mentioned = false;
  state.current = room;
  state.replyTo = null;
  $("messages").replaceChildren(room.list);
  renderRoomHead();
  renderTyping();
  renderReplyBanner();
  renderSidebar();
  urgent.onRoomShown(id);
  cases.onRoomShown(id);
  polls.onRoomShown(id);
  inbox.onRoomShown(id);
  chatimages.onRoomShown();
  renderHome();
  $("composer-error").textContent = "";
  renderPhiWarning();
  try {
    localStorage.setItem(lastRoomKey(), id);
  } catch {
    // Private mode: a reload starts at home.
  }
  if (!room.joined && !room.joining) joinRoom(room);
  else markRead(room);
  const fromDrawer = drawerOpen();
  setDrawer(false);
  if (!focus) return;
  if (!fromDrawer || !isPhone()) $("composer-input").focus();
  else $("drawer-toggle").focus();
}

/** Open a room at one of its messages (a search hit): join it, page back until the message
 * is there (at most MAX_PAGES_BACK pages), then scroll to it and mark it. */
const MAX_PAGES_BACK = 20;
async function showMessage(roomId, seq) {
  openRoom(roomId, { focus: false });
  const room = state.rooms.get(roomId);
  for (let i = 0; i < 100 && !room.joined && state.current === room; i += 1) {
    await new Promise((resolve) => { setTimeout(resolve, 100); });
  }
  for (let i = 0; i < MAX_PAGES_BACK && room.joined && !room.messages.has(seq) && room.more && state.current === room; i += 1) {
    await loadEarlier();
  }
  const rec = room.messages.get(seq);
  if (!rec || state.current !== room) return;
  for (const node of room.list.querySelectorAll(".msg.found")) node.classList.remove("found");
  rec.el.classList.add("found");
  rec.el.tabIndex = -1;
  rec.el.scrollIntoView({ block: "center" });
  rec.el.focus({ preventScroll: true });
}

// --- The room drawer (phones) -------------------------------------------------------------
// Below 700 px the sidebar is a drawer over the room (app.css). Opening it moves focus into
// it; picking a room, the scrim or Escape closes it and focus goes back to its button.

const isPhone = () => window.matchMedia("(max-width: 700px)").matches;
const drawerOpen = () => $("chat-view").dataset.drawer === "open";

function setDrawer(open) {
  const was = drawerOpen();
  $("chat-view").dataset.drawer = open ? "open" : "closed";
  $("drawer-toggle").setAttribute("aria-expanded", String(open));
  if (open && !was) ($("sidebar").querySelector("[aria-current=page]") || $("post-open")).focus();
  if (!open && was && isPhone() && $("sidebar").contains(document.activeElement)) $("drawer-toggle").focus();
}

function resume(room) {
  if (room.joining) room.rejoin = true;
  else joinRoom(room);
}

async function joinRoom(room) {
  if (!conn.isOpen()) return; // joined on the next session.welcome
  const since = room.everJoined ? room.lastSeq : null;
  room.joining = true;
  room.rejoin = false;
  const reply = await conn.request("room.join", since === null ? { room: room.id } : { room: room.id, since });
  room.joining = false;
  if (!reply.ok) {
    if (!reply.error.local && room === state.current) showComposerError(reply.error);
    return;
  }
  const data = reply.data;
  room.joined = true;
  room.me = data.me;
  room.summary = data.room;
  const before = room.lastSeq;
  for (const m of data.messages) upsert(room, m);
  const newest = data.messages.length ? data.messages[data.messages.length - 1].seq : 0;
  if (!room.everJoined) {
    // First join: the latest page; everything older is history, not a gap.
    room.more = data.more;
    room.lastSeq = Math.max(newest, since === null && !data.messages.length ? data.room.last_seq : 0);
    room.everJoined = true;
  } else {
    room.lastSeq = Math.max(room.lastSeq, newest);
  }
  room.advance();
  room.fruitless = room.lastSeq > before ? 0 : room.fruitless + 1;
  noteSeq(room.id, data.room.last_seq);
  const entry = state.list.get(room.id);
  entry.last_read_seq = Math.max(entry.last_read_seq, data.room.last_read_seq);
  if (room === state.current) {
    renderRoomHead();
    markRead(room);
  }
  for (const entry of room.pending.values()) if (!entry.inflight) sendEntry(room, entry);
  const more = since !== null && data.more;
  if ((more || room.rejoin || room.hasGap()) && room.fruitless < MAX_FRUITLESS_RESUMES) joinRoom(room);
}

async function loadEarlier() {
  const room = state.current;
  if (!room || !room.joined) return;
  const before = room.oldestSeq();
  const args = { room: room.id, limit: HISTORY_PAGE };
  if (before !== null) args.before = before;
  const reply = await conn.request("room.history", args);
  if (!reply.ok) return showComposerError(reply.error);
  for (const m of reply.data.messages) upsert(room, m);
  room.more = reply.data.more;
  renderRoomHead();
  return undefined;
}

// --- Sending ------------------------------------------------------------------------------

function submitComposer() {
  const room = state.current;
  const input = $("composer-input");
  const body = input.value;
  if (room && !body.trim() && chatimages.waiting(room.id)) {
    $("composer-error").textContent = t("chatimg.needText");
    return;
  }
  if (!room || !body.trim()) return;
  const replyTo = state.replyTo && state.replyTo.room === room.id ? state.replyTo.seq : null;
  const entry = { clientId: crypto.randomUUID(), body, replyTo, el: el("li", { class: "msg own" }), inflight: false,
    mentions: mentions.mentionsIn(body), attachments: chatimages.take(room.id) };
  room.pending.set(entry.clientId, entry);
  renderPending(room, entry);
  room.list.append(entry.el);
  scrollToEnd(room);
  input.value = "";
  state.replyTo = null;
  renderReplyBanner();
  $("composer-error").textContent = "";
  hidePhiWarning();
  sendEntry(room, entry);
}

async function sendEntry(room, entry) {
  if (!room.joined) return; // sent after the (re-)join
  entry.inflight = true;
  const args = { room: room.id, body: entry.body, client_id: entry.clientId };
  if (entry.replyTo) args.reply_to = entry.replyTo;
  if (entry.mentions?.length) args.mentions = entry.mentions;
  if (entry.attachments?.length) args.attachments = entry.attachments;
  if (entry.confirmPhi) args.confirm_phi = true;
  const reply = await conn.request("message.send", args);
  if (!room.pending.has(entry.clientId)) return; // already delivered through its event
  if (reply.ok) return deliver(room, entry, reply.data);
  entry.inflight = false;
  if (reply.error.local) return undefined; // offline: stays pending, re-sent after reconnect
  // Refused: take the bubble back and give the user their text to fix.
  room.pending.delete(entry.clientId);
  entry.el.remove();
  const input = $("composer-input");
  if (room === state.current && !input.value) input.value = entry.body;
  if (reply.error.code === "phi_detected") return showPhiWarning(room, entry, reply.error.details || {});
  if (room === state.current) showComposerError(reply.error);
  return undefined;
}

// --- The PHI guard ------------------------------------------------------------------------
// A refused send comes back with the spans of what looked like patient identifiers
// (offsets in Unicode code points, hence Array.from). The author either edits the text or
// says it is not patient data, which sends it again with confirm_phi (audited server-side).

function showPhiWarning(room, entry, details) {
  state.phi = { roomId: room.id, entry, findings: details.findings || [] };
  $("composer-error").textContent = "";
  renderPhiWarning();
}

function hidePhiWarning() {
  state.phi = null;
  $("phi-warning").hidden = true;
  $("phi-warning").replaceChildren();
}

function renderPhiWarning() {
  const box = $("phi-warning");
  const phi = state.phi;
  if (!phi || phi.roomId !== state.current?.id) {
    box.hidden = true;
    return;
  }
  const preview = markSpans(phi.entry.body, phi.findings, phiKindName);
  const kinds = [...new Set(phi.findings.map((f) => f.kind))].map(phiKindName);
  const edit = el("button", { type: "button", id: "phi-edit", class: "link-btn", text: t("phi.edit") });
  edit.addEventListener("click", phiEdit);
  const send = el("button", { type: "button", id: "phi-send-anyway", text: t("phi.sendAnyway") });
  send.addEventListener("click", phiSendAnyway);
  box.replaceChildren(
    el("p", { class: "phi-title", text: t("phi.title") }),
    el("p", { class: "phi-kinds", text: t("phi.found", { kinds: kinds.join(", ") }) }),
    preview,
    el("div", { class: "phi-actions" }, edit, send),
  );
  box.hidden = false;
}

/** Back to the composer with the first flagged span selected. */
function phiEdit() {
  const phi = state.phi;
  hidePhiWarning();
  const input = $("composer-input");
  input.focus();
  if (!phi || input.value !== phi.entry.body || !phi.findings.length) return;
  const first = phi.findings[0];
  input.setSelectionRange(utf16Index(input.value, first.start), utf16Index(input.value, first.end));
}

/** The author says the flagged text is not patient data: send it again, confirmed. */
function phiSendAnyway() {
  const phi = state.phi;
  const room = phi && state.rooms.get(phi.roomId);
  hidePhiWarning();
  if (!room) return;
  const input = $("composer-input");
  if (room === state.current && input.value === phi.entry.body) input.value = "";
  const entry = { ...phi.entry, el: el("li", { class: "msg own" }), inflight: false, confirmPhi: true };
  room.pending.set(entry.clientId, entry);
  renderPending(room, entry);
  room.list.append(entry.el);
  scrollToEnd(room);
  sendEntry(room, entry);
}

/** The server holds the message under `data.seq`: the pending bubble becomes that message. */
function deliver(room, entry, data) {
  room.pending.delete(entry.clientId);
  const existing = room.messages.get(data.seq);
  if (existing && existing.el !== entry.el) {
    entry.el.remove();
    renderMessage(room, existing);
    return;
  }
  const message = existing?.data || {
    id: data.id, seq: data.seq, author: room.me, body: entry.body, sent_at: data.sent_at,
    reply_to: entry.replyTo, mentions: [], attachments: [], edited: false, deleted: false, hidden: false,
  };
  const rec = { data: message, el: entry.el };
  room.messages.set(data.seq, rec);
  renderMessage(room, rec);
  place(room, rec);
  room.advance();
}

function showComposerError(error) {
  // too_large names the field of a body over the limit; without one, the server's reply (a
  // page of history) was too large to send — not the user's message.
  const code = error.code === "too_large" && !error.details?.field ? "reply_too_large" : error.code;
  const key = `error.${code}`;
  $("composer-error").textContent = has(key) ? t(key) : error.message || t("error.generic");
}

// --- Rendering ----------------------------------------------------------------------------

function upsert(room, data) {
  let rec = room.messages.get(data.seq);
  if (rec) {
    rec.data = { ...rec.data, ...data };
  } else {
    // My own message whose event beat its reply: adopt the pending bubble (no duplicate).
    const mine = data.author?.pseudonym && data.author.pseudonym === room.me?.pseudonym;
    const entry = mine ? [...room.pending.values()].find((p) => p.inflight && p.body === data.body) : null;
    rec = { data, el: entry ? entry.el : el("li", { class: "msg" }) };
    room.messages.set(data.seq, rec);
    if (entry) room.pending.delete(entry.clientId);
  }
  const typer = room.typers.get(data.author?.pseudonym);
  if (typer) {
    clearTimeout(typer.timer);
    room.typers.delete(data.author.pseudonym);
    if (room === state.current) renderTyping();
  }
  renderMessage(room, rec);
  place(room, rec);
  if (room === state.current) scrollToEnd(room);
}

/** Keep the list in seq order; pending bubbles stay below every stored message. */
function place(room, rec) {
  const seq = rec.data.seq;
  let before = null;
  for (const child of room.list.children) {
    if (child === rec.el) continue;
    if (!child.dataset.seq || Number(child.dataset.seq) > seq) {
      before = child;
      break;
    }
  }
  if (rec.el.nextSibling === before && rec.el.parentNode === room.list) return;
  room.list.insertBefore(rec.el, before);
}

function authorLine(room, author, own) {
  const line = el("div", { class: "meta" });
  line.append(el("span", { class: "author", title: author?.pseudonym || "", text: author?.name || "?" }));
  if (own) line.append(el("span", { class: "you", text: `(${t("msg.you")})` }));
  if (author?.verified) line.append(el("span", { class: "badge verified", text: t("verified") }));
  if (author?.specialty) {
    line.append(el("span", { class: "specialty", text: state.specialtyNames.get(author.specialty) || author.specialty }));
  }
  if (author?.moderator) line.append(el("span", { class: "badge moderator", text: t("msg.moderator") }));
  return line;
}

function renderMessage(room, rec) {
  const m = rec.data;
  const own = Boolean(room.me && m.author?.pseudonym === room.me.pseudonym);
  const node = rec.el;
  node.className = `msg${own ? " own" : ""}${m.deleted ? " deleted" : ""}${m.hidden ? " hidden-msg" : ""}`;
  node.dataset.seq = String(m.seq);
  if (own) node.dataset.state = "delivered";
  else delete node.dataset.state;
  const meta = authorLine(room, m.author, own);
  if (m.sent_at) {
    const when = new Date(m.sent_at);
    meta.append(el("time", {
      datetime: m.sent_at,
      text: when.toLocaleTimeString(language(), { hour: "2-digit", minute: "2-digit" }),
    }));
  }
  if (m.edited && !m.deleted) meta.append(el("span", { class: "marker edited", text: `(${t("msg.edited")})` }));
  const parts = [meta];
  if (m.reply_to) parts.push(replyReference(room, m.reply_to));
  if (m.deleted) parts.push(el("p", { class: "body marker", text: t("msg.deleted") }));
  else if (m.hidden && !m.body) parts.push(el("p", { class: "body marker", text: t("msg.hidden") }));
  else {
    if (m.hidden) parts.push(el("p", { class: "marker", text: t("msg.hidden") }));
    parts.push(el("p", { class: "body", text: m.body }));
  }
  const images = m.deleted ? null : chatimages.thumbs(m.attachments); // they open the viewer
  if (images) parts.push(images); // null when none: replaceChildren would print "null"
  const actions = el("div", { class: "actions" });
  if (!m.deleted) {
    const reply = el("button", { type: "button", class: "link-btn reply-btn", text: t("msg.reply") });
    reply.addEventListener("click", () => startReply(room, m.seq));
    actions.append(reply);
    if (!own) actions.append(moderate.reportButton(room.id, m.seq));
  }
  if (own && !m.deleted) {
    const edit = el("button", { type: "button", class: "link-btn edit-btn", text: t("msg.edit") });
    edit.addEventListener("click", () => startEdit(room, rec));
    const del = el("button", { type: "button", class: "link-btn delete-btn", text: t("msg.delete") });
    del.addEventListener("click", () => confirmDelete(room, rec, del));
    actions.append(edit, del);
  }
  if (own) actions.append(el("span", { class: "state", text: `✓ ${t("msg.delivered")}` }));
  parts.push(actions);
  node.replaceChildren(...parts);
}

// --- Editing and deleting my own messages ---------------------------------------------------
// Inline, no browser dialog: the body becomes a text box (Enter saves, Escape cancels);
// Delete asks "Delete this message?" in place. The server's events redraw the message.

function startEdit(room, rec) {
  const node = rec.el;
  const body = node.querySelector(".body");
  if (!body || node.querySelector(".edit-form")) return;
  const id = `edit-${room.id}-${rec.data.seq}`;
  const input = el("textarea", { id, rows: "2", class: "edit-input" });
  input.value = rec.data.body;
  const error = el("p", { class: "error", role: "alert" });
  const save = el("button", { type: "submit", text: t("msg.save") });
  const cancel = el("button", { type: "button", class: "link-btn", text: t("post.cancel") });
  const form = el("form", { class: "edit-form" }, el("label", { for: id, class: "visually-hidden", text: t("msg.edit") }),
    input, el("div", { class: "phi-actions" }, save, cancel), error);
  const done = () => {
    renderMessage(room, rec);
    node.querySelector(".edit-btn")?.focus();
  };
  cancel.addEventListener("click", done);
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") done();
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = input.value;
    if (!text.trim() || text === rec.data.body) return done();
    save.disabled = true;
    const reply = await conn.request("message.edit", { room: room.id, seq: rec.data.seq, body: text });
    save.disabled = false;
    if (!reply.ok) {
      const key = `error.${reply.error.code}`;
      error.textContent = has(key) ? t(key) : reply.error.message || t("error.generic");
      return undefined;
    }
    rec.data = { ...rec.data, body: text, edited: true };
    return done();
  });
  body.replaceWith(form);
  input.focus();
}

function confirmDelete(room, rec, button) {
  const yes = el("button", { type: "button", class: "link-btn danger-link", text: t("msg.deleteYes") });
  const no = el("button", { type: "button", class: "link-btn", text: t("msg.deleteNo") });
  const ask = el("span", { class: "delete-ask", role: "group", "aria-label": t("msg.deleteAsk") },
    el("span", { text: t("msg.deleteAsk") }), yes, no);
  no.addEventListener("click", () => {
    renderMessage(room, rec);
    rec.el.querySelector(".delete-btn")?.focus();
  });
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    const reply = await conn.request("message.delete", { room: room.id, seq: rec.data.seq });
    if (reply.ok) patchMessage(room, rec.data.seq, { body: "", deleted: true, attachments: [] });
    else renderMessage(room, rec);
    $("composer-input").focus();
  });
  button.replaceWith(ask);
  no.focus();
}

function renderPending(room, entry) {
  const node = entry.el;
  node.className = "msg own pending";
  node.dataset.state = "pending";
  node.dataset.clientId = entry.clientId;
  const parts = [authorLine(room, room.me, true)];
  if (entry.replyTo) parts.push(replyReference(room, entry.replyTo));
  parts.push(el("p", { class: "body", text: entry.body }));
  parts.push(el("div", { class: "actions" }, el("span", { class: "state", text: t("msg.pending") })));
  node.replaceChildren(...parts);
}

function replyReference(room, seq) {
  const target = room.messages.get(seq)?.data;
  if (!target) return el("div", { class: "reply-ref", text: t("msg.replyToUnknown", { seq }) });
  const snippet = target.deleted ? t("msg.deleted") : (target.body || "").slice(0, 80);
  return el("div", { class: "reply-ref" },
    el("span", { class: "reply-who", text: t("msg.replyTo", { who: target.author?.name || "?" }) }),
    el("span", { class: "reply-snippet", text: snippet }));
}

function startReply(room, seq) {
  state.replyTo = { room: room.id, seq };
  renderReplyBanner();
  $("composer-input").focus();
}

function renderReplyBanner() {
  const banner = $("reply-banner");
  const room = state.current;
  const target = room && state.replyTo?.room === room.id ? room.messages.get(state.replyTo.seq) : null;
  banner.hidden = !target;
  if (target) $("reply-text").textContent = t("reply.banner", { who: target.data.author?.name || "?" });
}

function renderTyping() {
  const room = state.current;
  const names = room ? [...room.typers.values()].map((x) => x.name) : [];
  $("typing").textContent = names.length === 0 ? ""
    : t(names.length === 1 ? "typing.one" : "typing.many", { who: names.join(", ") });
}

function roomTitle(id, summary) {
  if (id === GENERAL) return t("lounge.general");
  if (id.startsWith("lounge-")) {
    const name = state.specialtyNames.get(id.slice("lounge-".length));
    if (name) return name;
  }
  if (id.startsWith("case-")) {
    const slug = summary?.specialty || urgent.caseSpecialty(id);
    if (slug) return t("case.roomTitle", { specialty: state.specialtyNames.get(slug) || slug });
  }
  return summary?.title || id;
}

function renderRoomHead() {
  const room = state.current;
  $("room-title").textContent = room ? roomTitle(room.id, room.summary) : t("home.title");
  const n = room?.summary?.members;
  $("room-members").textContent = room?.summary ? t(n === 1 ? "room.members.one" : "room.members.other", { n }) : "";
  $("load-earlier").hidden = !(room && room.more);
  // Why my name here differs from the top bar: one pseudonym per room.
  $("room-me").hidden = !room?.me;
  if (room?.me) $("room-me").textContent = t("pseudo.explain", { name: room.me.name });
  if (room) room.list.dataset.empty = room.list.children.length ? "false" : "true";
  if (room) room.list.setAttribute("aria-label", roomTitle(room.id, room.summary));
  if (room) room.list.dataset.emptyText = t("room.empty");
}

function scrollToEnd() {
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
  if (state.current) state.current.list.dataset.empty = state.current.list.children.length ? "false" : "true";
}

function roomButton(id, label) {
  const room = state.rooms.get(id);
  const button = el("button", {
    type: "button", class: "room-btn", "data-room": id,
    "aria-current": state.current?.id === id ? "page" : null,
  }, label);
  if (room?.mentioned) button.append(el("span", { class: "dot", "aria-label": "@", text: "@" }));
  const n = state.current?.id === id ? 0 : unread(id);
  if (n) button.append(el("span", { class: "unread", text: String(n), "aria-label": t("unread.n", { n }) }));
  button.addEventListener("click", () => openRoom(id));
  return el("li", {}, button);
}

function fold(text) {
  return text.normalize("NFD").replace(/\p{Diacritic}/gu, "").toLowerCase();
}

function renderSidebar() {
  $("home-open").setAttribute("aria-current", state.current ? "false" : "page");
  $("lounges-mine").replaceChildren(...ownLounges().map(([id, label]) => roomButton(id, label)));
  urgent.renderCaseList();
  const query = fold($("specialty-search").value.trim());
  if (query) $("lounges-all-box").open = true;
  $("lounges-all-summary").textContent = t("lounges.all", { n: state.specialties.length });
  const matches = state.specialties.filter((s) => !query || fold(s.name).includes(query) || s.slug.includes(query));
  $("lounges-all").replaceChildren(...(matches.length
    ? matches.map((s) => roomButton(loungeId(s.slug), s.name))
    : [el("li", { class: "muted", text: t("search.none") })]));
}

function setStatus(key, params = {}) {
  state.status = [key, params];
  $("conn-status").textContent = t(key, params);
  $("conn-status").dataset.state = key;
}

function rerenderAll() {
  translatePage();
  for (const b of document.querySelectorAll(".lang-btn")) b.setAttribute("aria-pressed", String(b.dataset.lang === language()));
  if (state.status) setStatus(...state.status);
  for (const room of state.rooms.values()) {
    for (const rec of room.messages.values()) renderMessage(room, rec);
    for (const entry of room.pending.values()) renderPending(room, entry);
  }
  renderSidebar();
  renderRoomHead();
  renderTyping();
  renderReplyBanner();
  renderPhiWarning();
  urgent.rerender();
  cases.rerender();
  polls.rerender();
  inbox.rerender();
  search.rerender();
  renderHome();
  account.rerender();
  verify.rerender();
  moderate.rerender();
  profile.rerender();
  mentions.rerender();
}

// --- Specialties, language, login --------------------------------------------------------

async function loadSpecialties() {
  const lang = language();
  try {
    const res = await fetch(`/api/v1/specialties?lang=${encodeURIComponent(lang)}`, { credentials: "same-origin" });
    if (!res.ok || lang !== language()) return;
    const body = await res.json();
    state.specialties = body.specialties.slice().sort((a, b) => a.name.localeCompare(b.name, lang));
    state.specialtyNames = new Map(body.specialties.map((s) => [s.slug, s.name]));
    rerenderAll();
  } catch {
    // Names fall back to slugs until the next language switch or login.
  }
}

function chooseLanguage(lang) {
  setLanguage(lang);
  try {
    localStorage.setItem("curbside.lang", language());
  } catch {
    // Private mode: the choice lasts for this page only.
  }
  rerenderAll();
  loadSpecialties();
}

/** Back to the login form. `boot` keeps what the user may already have typed. */
function showLogin(message = "", { keepInput = false } = {}) {
  conn.stop();
  urgent.reset();
  cases.reset();
  polls.reset();
  inbox.reset();
  search.reset();
  state.rooms = new Map();
  state.current = null;
  state.me = null;
  state.list = new Map();
  state.restored = false;
  state.status = null;
  hidePhiWarning();
  $("conn-status").textContent = "";
  $("messages").replaceChildren();
  $("composer").hidden = true;
  $("who").hidden = true;
  $("logout").hidden = true;
  $("chat-view").hidden = true;
  account.reset();
  verify.reset();
  moderate.reset();
  profile.reset();
  chatimages.reset();
  $("login-view").hidden = false;
  $("login-error").textContent = message;
  if (!keepInput) $("login-password").value = "";
  showOtp(false);
  $("login-submit").disabled = false;
  renderRoomHead();
}

function sessionEnded(code) {
  showLogin(t(code === 4403 ? "session.forbidden" : "session.ended"));
}

/** Signed in: the chat for a verified physician, else the page that says what happens next. */
function signedIn(physician) {
  $("login-password").value = "";
  showOtp(false);
  if (physician && !physician.verified) {
    $("login-view").hidden = true;
    account.showPending(physician);
    return;
  }
  account.reset();
  $("verify-open").hidden = !["verifier", "admin"].includes(physician?.role);
  $("mod-open").hidden = !["moderator", "admin"].includes(physician?.role);
  $("profile-open").hidden = false;
  enterChat();
}

/** One console ("verify", "mod", "profile") in place of the chat, or the chat (null). */
function showConsole(which) {
  if (which !== "verify") verify.deactivate();
  if (which !== "mod") moderate.deactivate();
  if (which !== "profile") profile.deactivate();
  $("verify-view").hidden = which !== "verify";
  $("mod-view").hidden = which !== "mod";
  $("profile-view").hidden = which !== "profile";
  $("chat-view").hidden = which !== null;
}

function enterChat() {
  $("login-view").hidden = true;
  $("chat-view").hidden = false;
  $("logout").hidden = false;
  $("login-error").textContent = "";
  renderSidebar();
  renderHome();
  loadSpecialties();
  conn.start();
}

/** The one-time-code field: shown once the server asks for a code, cleared otherwise. */
function showOtp(shown) {
  $("login-otp-group").hidden = !shown;
  $("login-otp").value = "";
}

/** What a refused login tells the user, from the error code (docs/protocol.md, auth/login). */
function loginRefusal(status, error) {
  switch (error?.code) {
    case "otp_required":
      showOtp(true);
      $("login-otp").focus();
      return t("login.otp.needed");
    case "otp_invalid":
      showOtp(true);
      $("login-otp").focus();
      return t("login.otp.wrong");
    case "otp_enrolment_required":
      return t("login.otp.enrol");
    case "rate_limited":
      return t("login.limited", { s: Math.ceil(error.details?.retry_after_s ?? 60) });
    default:
      return t(status === 401 || status === 400 ? "login.wrong" : "login.failed");
  }
}

async function login(ev) {
  ev.preventDefault();
  const email = $("login-email").value.trim();
  const password = $("login-password").value;
  const otp = $("login-otp").value.replace(/\s+/g, "");
  const error = $("login-error");
  if (!email || !password) {
    error.textContent = t("login.missing");
    return;
  }
  $("login-submit").disabled = true;
  error.textContent = "";
  try {
    const res = await fetch("/api/v1/auth/login", {
      method: "POST",
      credentials: "same-origin",
      headers: jsonHeaders(),
      body: JSON.stringify(otp && !$("login-otp-group").hidden ? { email, password, otp } : { email, password }),
    });
    if (res.ok) {
      signedIn((await res.json()).physician);
    } else {
      const body = await res.json().catch(() => ({}));
      error.textContent = loginRefusal(res.status, body.error);
    }
  } catch {
    error.textContent = t("login.failed");
  } finally {
    $("login-submit").disabled = false;
  }
}

async function logout() {
  conn.stop();
  try {
    await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin", headers: jsonHeaders() });
  } finally {
    showLogin();
  }
}

function onComposerKey(ev) {
  if (mentions.onKey(ev)) return; // the @-mention list is open: its keys
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    submitComposer();
  }
}

function onComposerInput() {
  const room = state.current;
  const now = Date.now();
  if (!room?.joined || !$("composer-input").value || now - state.lastTypingSent < TYPING_SEND_EVERY_MS) return;
  state.lastTypingSent = now;
  conn.request("typing", { room: room.id });
}

async function boot() {
  let stored = null;
  try {
    stored = localStorage.getItem("curbside.lang");
  } catch {
    // No storage: the browser's language decides.
  }
  setLanguage(initialLanguage(stored, navigator.languages || [navigator.language]));
  rerenderAll();
  urgent.install({
    conn,
    openRoom,
    rooms: () => state.rooms,
    specialties: () => state.specialties,
    specialtyName: (slug) => state.specialtyNames.get(slug),
    unread,
    current: () => state.current?.id || null,
  });
  $("home-open").addEventListener("click", showHome);
  account.install({
    signedIn,
    showLogin: (message) => showLogin(message, { keepInput: true }),
    logout,
    specialties: () => state.specialties,
  });
  verify.install({
    specialtyName: (slug) => state.specialtyNames.get(slug),
    show: (on) => showConsole(on ? "verify" : null),
  });
  moderate.install({
    conn,
    roomTitle: (id, summary) => roomTitle(id, summary),
    show: (on) => showConsole(on ? "mod" : null),
  });
  mentions.install({
    // The room's members seen so far: authors of its loaded messages, newest first, not me.
    candidates: () => {
      const room = state.current;
      if (!room) return [];
      const seen = new Map();
      const recs = [...room.messages.values()].sort((a, b) => b.data.seq - a.data.seq);
      for (const rec of recs) {
        const a = rec.data.author;
        if (a?.pseudonym && a.pseudonym !== room.me?.pseudonym && !seen.has(a.pseudonym)) seen.set(a.pseudonym, { pseudonym: a.pseudonym, name: a.name });
      }
      return [...seen.values()];
    },
  });
  profile.install({
    show: (on) => {
      showConsole(on ? "profile" : null);
      if (!on) (isPhone() ? $("drawer-toggle") : $(state.current ? "composer-input" : "home-open")).focus();
    },
    specialties: () => state.specialties,
    specialtyName: (slug) => state.specialtyNames.get(slug),
    // My pseudonym in each room I have open (room.join's `me`).
    pseudonyms: () => [...state.rooms.values()].filter((r) => r.me?.name)
      .map((r) => ({ room: roomTitle(r.id, r.summary), name: r.me.name })),
    expectReconnect: (on) => conn.expectClose(on),
    profileChanged: (p) => {
      if (!state.me) return;
      state.me = { ...state.me, specialty: p.specialty, specialties: p.specialties, languages: p.languages };
      renderSidebar();
    },
  });
  loadSpecialties();
  document.addEventListener("visibilitychange", () => {
    if (state.current && document.visibilityState === "visible") markRead(state.current);
  });
  cases.install({
    conn,
    openRoom,
    rooms: () => state.rooms,
    specialties: () => state.specialties,
    specialtyName: (slug) => state.specialtyNames.get(slug),
    mySpecialties,
    closeDrawer: () => setDrawer(false),
    // Back from the feed or the dashboard: focus goes where it would after picking a room.
    chatShown: () => (isPhone() ? $("drawer-toggle") : $(state.current ? "composer-input" : "home-open")).focus(),
    onPosted: (c) => urgent.knowPosted(c),
  });
  polls.install({ specialtyName: (slug) => state.specialtyNames.get(slug) });
  inbox.install({
    conn,
    openRoom,
    openCase: (id) => cases.openCase(id),
    roomTitle: (id) => roomTitle(id, state.list.get(id)?.case || state.rooms.get(id)?.summary),
  });
  chatimages.install({ room: () => state.current }); // after cases.install: the viewer
  search.install({ conn, openCase: cases.openCase, showMessage, roomTitle });
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitComposer();
  });
  $("composer-input").addEventListener("keydown", onComposerKey);
  $("composer-input").addEventListener("input", onComposerInput);
  $("reply-cancel").addEventListener("click", () => {
    state.replyTo = null;
    renderReplyBanner();
  });
  $("load-earlier").addEventListener("click", loadEarlier);
  $("specialty-search").addEventListener("input", renderSidebar);
  $("drawer-toggle").addEventListener("click", () => setDrawer(!drawerOpen()));
  $("post-open").addEventListener("click", () => setDrawer(false));
  // Closing the dialog gives focus back to "Post a case"; on a phone that button sits in the
  // drawer, closed by now, so the drawer's own button takes it.
  $("tpl-dialog").addEventListener("close", () => {
    if (isPhone() && !drawerOpen()) $("drawer-toggle").focus();
  });
  $("drawer-scrim").addEventListener("click", () => setDrawer(false));
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && drawerOpen()) setDrawer(false);
  });
  for (const b of document.querySelectorAll(".lang-btn")) b.addEventListener("click", () => chooseLanguage(b.dataset.lang));
  try {
    const res = await fetch("/api/v1/me", { credentials: "same-origin" });
    if (res.ok) signedIn((await res.json()).physician);
    else showLogin("", { keepInput: true });
  } catch {
    showLogin("", { keepInput: true });
  }
}

boot();
