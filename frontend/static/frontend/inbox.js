// The notification inbox (docs/notifications.md): the bell with its unread badge in the top
// bar, the panel that lists notifications (kind, where, when) and opens the case or room of
// one (marking it read), "mark all read", a room's timed mute in its head, and the follow
// button of a case (cases.js places it). Live: `notification.new` adds to the list and the
// badge; `notifications.list` after every welcome rebuilds both (a reload, a reconnect).
//
// app.js calls the hooks at the bottom (install, onWelcome, onEvent, onRoomShown, rerender,
// reset). Same safety rule as everywhere: server text only through el() / textContent.

import { $, el } from "./dom.js";
import { language, t } from "./i18n.js";

const PAGE = 30;
// room.mute's choices, in seconds; "until I unmute" is the longest the server takes (a year).
const MUTE_CHOICES = ["3600", "28800", "86400", "forever"];
const FOREVER_S = 365 * 24 * 3600;
// Mutes ending further ahead than this read "until you unmute".
const FOREVER_SHOWN_S = 300 * 24 * 3600;

// {conn, openRoom(id), openCase(id), roomTitle(id)}
let ctx = null;
const mutes = new Map(); // room id → end of my mute there (epoch seconds), from rooms.list
const box = { items: [], unread: 0, next: null, loaded: false, generation: 0 };
let shownRoom = null;

const when = (iso) => new Date(iso).toLocaleString(language(), { dateStyle: "medium", timeStyle: "short" });
const panelOpen = () => !$("inbox-panel").hidden;

function where(n) {
  if (n.room) return ctx.roomTitle(n.room);
  return n.case ? t("inbox.where.case") : "";
}

function renderBadge() {
  const n = box.unread;
  const badge = $("inbox-badge");
  badge.textContent = n > 99 ? "99+" : String(n);
  badge.hidden = n === 0;
  $("inbox-open").setAttribute("aria-label", n ? t("inbox.bell.unread", { n }) : t("inbox.bell"));
}

function item(n) {
  const button = el("button", { type: "button", class: "inbox-item", "data-id": String(n.id),
    "data-kind": n.kind, "data-read": String(n.read) },
  el("span", { class: "inbox-kind", text: t(`inbox.kind.${n.kind}`) }),
  el("span", { class: "inbox-where", text: where(n) }),
  el("time", { class: "inbox-when muted", datetime: n.at, text: when(n.at) }));
  if (!n.read) button.prepend(el("span", { class: "visually-hidden", text: `${t("inbox.unread")}: ` }));
  button.addEventListener("click", () => openOne(n));
  return el("li", {}, button);
}

function renderList() {
  $("inbox-list").replaceChildren(...(box.items.length ? box.items.map(item)
    : [el("li", { class: "muted", text: box.loaded ? t("inbox.none") : t("feed.loading") })]));
  $("inbox-more").hidden = !box.next;
  $("inbox-all").disabled = box.unread === 0;
}

function render() {
  if (!ctx) return;
  renderBadge();
  renderList();
  renderMute();
}

async function load({ more = false } = {}) {
  const generation = more ? box.generation : ++box.generation;
  const args = { limit: PAGE };
  if (more && box.next) args.before = box.next;
  const reply = await ctx.conn.request("notifications.list", args);
  if (generation !== box.generation) return;
  if (!reply.ok) {
    $("inbox-error").textContent = t("error.generic");
    return;
  }
  $("inbox-error").textContent = "";
  const page = reply.data.notifications;
  box.items = more ? [...box.items, ...page.filter((n) => !box.items.some((o) => o.id === n.id))] : page;
  box.unread = reply.data.unread;
  box.next = reply.data.next;
  box.loaded = true;
  readShownRoom();
  render();
}

/** Mark read on the server; the reply's count is the truth for the badge. */
async function markRead(ids, every = false) {
  if (!ids.length && !every) return;
  for (const n of box.items) if (every || ids.includes(n.id)) n.read = true;
  render();
  const reply = await ctx.conn.request("notifications.read", every ? { all: true } : { ids });
  if (reply.ok) box.unread = reply.data.unread;
  else $("inbox-error").textContent = t("error.generic");
  render();
}

/** The room on screen: its notifications are read by being there. */
function readShownRoom() {
  if (!shownRoom || document.visibilityState === "hidden") return;
  const ids = box.items.filter((n) => !n.read && n.room === shownRoom).map((n) => n.id);
  if (ids.length) markRead(ids);
}

function openOne(n) {
  if (!n.read) markRead([n.id]);
  setPanel(false, { focusBell: false });
  // A case's notification opens the case page (its room under it); others their room.
  if (n.case) ctx.openCase(n.case);
  else if (n.room) ctx.openRoom(n.room);
}

function setPanel(open, { focusBell = true } = {}) {
  $("inbox-panel").hidden = !open;
  $("inbox-open").setAttribute("aria-expanded", String(open));
  if (open) {
    if (!box.loaded) load();
    renderList();
    $("inbox-title").focus();
  } else if (focusBell) {
    $("inbox-open").focus();
  }
}

// --- Room mute (room head) -------------------------------------------------------------------

function renderMute() {
  $("room-mute").hidden = !shownRoom;
  if (!shownRoom) return;
  const end = mutes.get(shownRoom);
  const until = end && end * 1000 > Date.now() ? end : null;
  $("mute-set").hidden = Boolean(until);
  $("mute-state").hidden = !until;
  if (until) {
    $("mute-text").textContent = until - Date.now() / 1000 > FOREVER_SHOWN_S ? t("mute.forever")
      : t("mute.until", { when: new Date(until * 1000).toLocaleString(language(), { dateStyle: "medium", timeStyle: "short" }) });
  }
  for (const option of $("mute-for").options) option.textContent = t(`mute.for.${option.value}`);
}

async function mute(until) {
  const room = shownRoom;
  $("mute-error").textContent = "";
  const reply = await ctx.conn.request("room.mute", { room, until });
  if (!reply.ok) {
    $("mute-error").textContent = reply.error?.code === "not_found" ? t("mute.notMember") : t("error.generic");
    return;
  }
  if (reply.data.until) mutes.set(room, reply.data.until);
  else mutes.delete(room);
  if (room !== shownRoom) return;
  renderMute();
  $(reply.data.until ? "mute-unmute" : "mute-apply").focus();
}

function applyMute() {
  const choice = $("mute-for").value;
  const seconds = choice === "forever" ? FOREVER_S : Number(choice);
  mute(Date.now() / 1000 + seconds);
}

// --- Follow a case (cases.js puts the button in the case's actions) --------------------------

/** A follow / unfollow toggle for case `c` (a CaseView); `changed(following)` after the reply. */
export function followButton(c, changed) {
  const button = el("button", { type: "button", id: "case-follow", class: "link-btn",
    "data-following": String(Boolean(c.following)), text: t(c.following ? "follow.stop" : "follow.start") });
  button.addEventListener("click", async () => {
    button.disabled = true;
    const reply = await ctx.conn.request("case.follow", { case: c.id, follow: !c.following });
    button.disabled = false;
    if (reply.ok) changed(reply.data.following);
    else $("case-detail-error").textContent = t("error.generic");
  });
  return button;
}

// --- Hooks -----------------------------------------------------------------------------------

export function install(context) {
  ctx = context;
  $("inbox-open").addEventListener("click", () => setPanel(!panelOpen()));
  $("inbox-close").addEventListener("click", () => setPanel(false));
  $("inbox-all").addEventListener("click", () => markRead([], true));
  $("inbox-more").addEventListener("click", () => load({ more: true }));
  $("inbox-panel").addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      ev.stopPropagation();
      setPanel(false);
    }
  });
  $("mute-for").replaceChildren(...MUTE_CHOICES.map((v) => el("option", { value: v, text: t(`mute.for.${v}`) })));
  $("mute-apply").addEventListener("click", applyMute);
  $("mute-unmute").addEventListener("click", () => mute(null));
  document.addEventListener("visibilitychange", readShownRoom);
  window.addEventListener("hashchange", openFromLink);
}

export function onWelcome() {
  $("inbox-open").hidden = false;
  load().then(openFromLink);
}

/** The digest mail's link (`/#inbox`) opens the panel, once signed in. */
function openFromLink() {
  if (location.hash !== "#inbox" || $("inbox-open").hidden) return;
  history.replaceState(null, "", location.pathname + location.search);
  setPanel(true);
}

/** notification.new: one more in the list and on the badge. True when handled. */
export function onEvent(frame) {
  if (frame.type !== "notification.new") return false;
  const n = frame.data?.notification;
  if (!n || box.items.some((o) => o.id === n.id)) return true;
  box.items.unshift(n);
  if (!n.read) box.unread += 1;
  $("inbox-announce").textContent = t("inbox.new", { kind: t(`inbox.kind.${n.kind}`), where: where(n) });
  render();
  readShownRoom();
  return true;
}

/** A room (or the home: null) is on screen. */
export function onRoomShown(roomId) {
  shownRoom = roomId;
  $("mute-error").textContent = "";
  renderMute();
  readShownRoom();
}

/** rooms.list arrived: my mutes are known. */
export function onRooms(rooms) {
  mutes.clear();
  for (const r of rooms) if (r.muted_until) mutes.set(r.id, r.muted_until);
  renderMute();
}

export function rerender() {
  if (!ctx) return;
  render();
}

export function reset() {
  box.items = [];
  box.unread = 0;
  box.next = null;
  box.loaded = false;
  box.generation += 1;
  shownRoom = null;
  mutes.clear();
  if (!ctx) return;
  $("inbox-panel").hidden = true;
  $("inbox-open").hidden = true;
  $("inbox-open").setAttribute("aria-expanded", "false");
  $("inbox-announce").textContent = "";
  render();
}
