// Images in chat messages, through the attachment path (POST /api/v1/rooms/<room>/attachments:
// cleaned, re-encoded, OCR-checked for patient data, sealed; GET /api/v1/attachments/<id>,
// members only). "Attach an image" uploads at once and shows a thumbnail in the composer;
// the message carries the attachment ids. Messages show their images as thumbnails that open
// the image viewer (cases.js's modal <dialog>: focus goes into it, Escape closes it, and the
// browser gives focus back to the thumbnail).

import { csrfToken } from "./csrf.js";
import { $, el } from "./dom.js";
import { phiKindName, t } from "./i18n.js";

const MAX_IMAGES = 10; // bus/protocol.py MessageSend.attachments

let ctx = null; // {room() → the room on screen}
let drafts = []; // [{id, url (blob:), room}]
let pendingPhi = null; // {file, room}: OCR found something; the author may confirm

const src = (id) => `/api/v1/attachments/${encodeURIComponent(id)}`;

function setStatus(text) {
  $("composer-images-status").textContent = text;
}

/** Open the image viewer on ``url``; focus moves into the dialog and comes back on close. */
export function view(url, alt) {
  $("case-viewer-img").src = url;
  $("case-viewer-img").alt = alt;
  $("case-viewer").showModal();
}

/** Thumbnails of a message's images, each a button opening the viewer. */
export function thumbs(ids) {
  if (!ids?.length) return null;
  return el("ul", { class: "thumbs msg-thumbs" }, ...ids.map((id, i) => {
    const alt = t("chatimg.alt", { n: i + 1 });
    const button = el("button", { type: "button", class: "thumb-btn", "aria-label": t("chatimg.view", { n: i + 1 }) },
      el("img", { src: src(id), alt, loading: "lazy" }));
    button.addEventListener("click", () => view(src(id), alt));
    return el("li", { class: "thumb" }, button);
  }));
}

function renderDrafts() {
  const room = ctx.room();
  const mine = drafts.filter((d) => d.room === room?.id);
  $("composer-images").replaceChildren(...mine.map((d, i) => {
    const remove = el("button", { type: "button", class: "link-btn thumb-remove", text: "✕",
      "aria-label": t("chatimg.remove", { n: i + 1 }) });
    remove.addEventListener("click", () => {
      drafts = drafts.filter((x) => x !== d);
      URL.revokeObjectURL(d.url);
      renderDrafts();
      $("composer-attach").focus();
    });
    return el("li", { class: "thumb" }, el("img", { src: d.url, alt: t("chatimg.alt", { n: i + 1 }) }), remove);
  }));
  $("composer-images").hidden = mine.length === 0;
  $("composer-attach").disabled = mine.length >= MAX_IMAGES;
}

async function upload(file, room, confirm = false) {
  setStatus(t("chatimg.uploading"));
  $("composer-phi-image").hidden = true;
  try {
    const res = await fetch(`/api/v1/rooms/${encodeURIComponent(room)}/attachments${confirm ? "?confirm_phi=1" : ""}`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": file.type || "application/octet-stream", "X-CSRFToken": csrfToken() },
      body: file,
    });
    const data = await res.json().catch(() => ({}));
    if (res.ok) {
      drafts.push({ id: data.attachment.id, url: URL.createObjectURL(file), room });
      setStatus(t("chatimg.ready"));
      renderDrafts();
      return;
    }
    if (data.error?.code === "phi_detected") {
      pendingPhi = { file, room };
      const kinds = [...new Set((data.error.details?.findings || []).map((f) => phiKindName(f.kind)))];
      setStatus(t("chatimg.phi", { kinds: kinds.join(", ") }));
      $("composer-phi-image").hidden = false;
      return;
    }
    setStatus(data.error?.message || t("error.generic"));
  } catch {
    setStatus(t("profile.offline"));
  }
}

/** The ids of the images to send with the next message in ``roomId`` (and forget them). */
export function take(roomId) {
  const mine = drafts.filter((d) => d.room === roomId);
  drafts = drafts.filter((d) => d.room !== roomId);
  for (const d of mine) URL.revokeObjectURL(d.url);
  if (mine.length) {
    renderDrafts();
    setStatus("");
  }
  return mine.map((d) => d.id);
}

/** Whether the room has images waiting to be sent. */
export const waiting = (roomId) => drafts.some((d) => d.room === roomId);

/** The room on screen changed: show its drafts. */
export function onRoomShown() {
  setStatus("");
  $("composer-phi-image").hidden = true;
  renderDrafts();
}

export function install(context) {
  ctx = context;
  const input = el("input", { type: "file", id: "composer-file", accept: "image/*", hidden: true });
  const attach = el("button", { type: "button", id: "composer-attach", class: "secondary attach-btn",
    "data-i18n": "chatimg.attach", text: t("chatimg.attach") });
  const confirm = el("button", { type: "button", id: "composer-phi-image", class: "link-btn", hidden: true,
    "data-i18n": "chatimg.anyway", text: t("chatimg.anyway") });
  const bar = el("div", { class: "composer-images-bar" }, attach, input,
    el("ul", { id: "composer-images", class: "thumbs", hidden: true, "aria-label": t("chatimg.drafts"), "data-i18n-aria-label": "chatimg.drafts" }),
    el("span", { id: "composer-images-status", class: "muted", role: "status" }), confirm);
  $("composer-input").before(bar);
  attach.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    const room = ctx.room();
    for (const file of input.files) if (room) upload(file, room.id);
    input.value = "";
  });
  confirm.addEventListener("click", () => {
    if (pendingPhi) upload(pendingPhi.file, pendingPhi.room, true);
    pendingPhi = null;
  });
}

export function reset() {
  for (const d of drafts) URL.revokeObjectURL(d.url);
  drafts = [];
  pendingPhi = null;
}
