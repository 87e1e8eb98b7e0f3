// Reports and the moderator console. Every member gets "Report" on others' messages (the
// `report` op); moderators get "Moderation" in the top bar: the open reports
// (GET /api/v1/moderation/reports; a `report.filed` event fetches each new one at once, and
// a slow poll catches what a dropped socket missed) with the message and its context, the
// earlier versions of edited or deleted messages (an audited read), the actions of
// docs/moderation.md: hide / unhide, a timed mute, kick, room or network ban, resolve or
// dismiss with a note; and the PHI-confirmation log (kinds only).

import { jsonHeaders } from "./csrf.js";
import { $, el } from "./dom.js";
import { has, language, phiKindName, t } from "./i18n.js";

// New reports arrive as `report.filed`; the poll only catches what a dropped socket missed.
const POLL_MS = 60000;
const MUTE_CHOICES = [15, 60, 1440];

let ctx = null; // {conn, roomTitle(id, summary), show(bool)}
let reports = new Map(); // id → report
let timer = null;
let unseen = 0; // reports filed while the console was closed
let phiBefore = 0; // the oldest PHI-log entry shown (0: none yet)

const errorText = (error) => (has(`error.${error?.code}`) ? t(`error.${error.code}`) : error?.message || t("error.generic"));

// --- Report (every member) ------------------------------------------------------------------

/** The "Report" control for someone else's message. */
export function reportButton(roomId, seq) {
  const button = el("button", { type: "button", class: "link-btn report-btn", text: t("report.open") });
  button.addEventListener("click", () => openReportForm(button, roomId, seq));
  return button;
}

function openReportForm(button, roomId, seq) {
  const id = `report-${roomId}-${seq}`;
  if (document.getElementById(id)) return;
  const input = el("input", { id: `${id}-reason`, maxlength: "500", autocomplete: "off" });
  const status = el("span", { class: "report-status", role: "status" });
  const send = el("button", { type: "submit", text: t("report.send") });
  const cancel = el("button", { type: "button", class: "link-btn", text: t("post.cancel") });
  const form = el("form", { id, class: "report-form" },
    el("label", { for: `${id}-reason`, text: t("report.reason") }), input, send, cancel, status);
  cancel.addEventListener("click", () => form.remove());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const reason = input.value.trim();
    if (!reason) {
      status.textContent = t("report.needReason");
      input.focus();
      return;
    }
    send.disabled = true;
    const reply = await ctx.conn.request("report", { room: roomId, seq, reason });
    send.disabled = false;
    if (reply.ok || reply.error.code === "conflict") {
      form.replaceChildren(el("span", { class: "report-status", role: "status", text: t("report.done") }));
      button.focus();
    } else status.textContent = errorText(reply.error);
  });
  button.closest(".msg").append(form);
  input.focus();
}

// --- The console (moderators) ---------------------------------------------------------------

const clock = (iso) => new Date(iso).toLocaleString(language(), { dateStyle: "short", timeStyle: "short" });

/** The earlier bodies of an edited or deleted message (each read is audited server-side). */
async function showVersions(roomId, m, button, box) {
  button.disabled = true;
  try {
    const res = await fetch(`/api/v1/moderation/rooms/${encodeURIComponent(roomId)}/messages/${m.seq}/revisions`,
      { credentials: "same-origin" });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      box.replaceChildren(el("p", { class: "error", role: "alert", text: errorText(body.error) }));
      button.disabled = false;
      return;
    }
    box.replaceChildren(...(body.revisions.length ? body.revisions.map((r) => el("li", { class: "version" },
      el("span", { class: "muted", text: t("mod.version", { n: r.revision, when: clock(r.replaced_at) }) }),
      el("p", { class: "body", text: r.body || t("mod.versionErased") })))
      : [el("li", { class: "muted", text: t("mod.noVersions") })]));
    button.hidden = true;
    box.hidden = false;
    box.focus();
  } catch {
    box.replaceChildren(el("p", { class: "error", role: "alert", text: t("login.failed") }));
    button.disabled = false;
  }
}

function messageNode(roomId, m, reported) {
  if (!m) return null;
  let versions = null;
  if (m.edited || m.deleted) {
    const box = el("ol", { class: "versions", hidden: true, tabindex: "-1", "aria-label": t("mod.versions") });
    const button = el("button", { type: "button", class: "link-btn versions-btn", text: t("mod.showVersions") });
    button.addEventListener("click", () => showVersions(roomId, m, button, box));
    versions = [button, box];
  }
  return el("li", { class: `ctx-msg${reported ? " reported" : ""}`, "data-seq": String(m.seq) },
    el("span", { class: "author", text: m.author?.name || "?" }), " ",
    el("time", { datetime: m.sent_at || "", text: m.sent_at ? new Date(m.sent_at).toLocaleTimeString(language(), { hour: "2-digit", minute: "2-digit" }) : "" }),
    m.hidden ? el("span", { class: "marker", text: ` (${t("msg.hidden")})` }) : null,
    m.edited ? el("span", { class: "marker", text: ` (${t("msg.edited")})` }) : null,
    el("p", { class: "body", text: m.deleted ? t("msg.deleted") : m.body }),
    ...(versions || []));
}

async function act(report, op, args, status) {
  status.textContent = "";
  // Moderation ops act on a joined room: join it (from the reported seq; nothing to load).
  const join = await ctx.conn.request("room.join", { room: report.room.id, since: report.seq });
  if (!join.ok) {
    status.textContent = errorText(join.error);
    return false;
  }
  const reply = await ctx.conn.request(op, { room: report.room.id, ...args });
  status.textContent = reply.ok ? t(`mod.done.${op}`) : errorText(reply.error);
  return reply.ok;
}

async function resolve(report, action, note, status) {
  const resolution = note.value.trim();
  if (!resolution) {
    status.textContent = t("mod.needNote");
    note.focus();
    return;
  }
  try {
    const res = await fetch(`/api/v1/moderation/reports/${report.id}/resolve`, {
      method: "POST", credentials: "same-origin", headers: jsonHeaders(),
      body: JSON.stringify({ resolution, action }),
    });
    if (!res.ok) {
      status.textContent = errorText((await res.json().catch(() => ({}))).error);
      return;
    }
    reports.delete(report.id);
    render();
    $("mod-title").focus();
  } catch {
    status.textContent = t("login.failed");
  }
}

function reportCard(r) {
  const author = r.message?.author;
  const status = el("p", { class: "mod-status", role: "status" });
  const note = el("textarea", { id: `mod-note-${r.id}`, rows: "2", maxlength: "500" });
  const button = (key, cls, handler) => {
    const b = el("button", { type: "button", class: cls, text: t(key) });
    b.addEventListener("click", handler);
    return b;
  };
  const hidden = Boolean(r.message?.hidden);
  const mute = el("select", { id: `mod-mute-${r.id}`, "aria-label": t("mod.muteFor") },
    ...MUTE_CHOICES.map((m) => el("option", { value: String(m), text: t(`mod.minutes.${m}`) })));
  const actions = el("div", { class: "mod-actions" },
    hidden
      ? button("mod.unhide", "secondary", () => act(r, "mod.unhide", { seq: r.seq }, status))
      : button("mod.hide", "secondary", () => act(r, "mod.hide", { seq: r.seq, reason: r.reason.slice(0, 200) || "reported" }, status)),
    el("span", { class: "mute-group" }, mute,
      button("mod.mute", "secondary", () => act(r, "mod.mute", { pseudonym: author.pseudonym, minutes: Number(mute.value) }, status))),
    button("mod.kick", "secondary", () => act(r, "mod.kick", { pseudonym: author.pseudonym }, status)),
    button("mod.banRoom", "danger", () => act(r, "mod.ban", { pseudonym: author.pseudonym, reason: r.reason || "reported", scope: "room" }, status)),
    button("mod.banNetwork", "danger", () => act(r, "mod.ban", { pseudonym: author.pseudonym, reason: r.reason || "reported", scope: "network" }, status)));
  return el("li", { class: "console-card report-card", "data-report": String(r.id) },
    el("h3", { text: t("mod.reportTitle", { room: ctx.roomTitle(r.room.id, r.room) }) }),
    el("p", { class: "muted", text: t("mod.reportedBy", { who: r.reporter_name || r.reporter, when: new Date(r.created_at).toLocaleString(language(), { dateStyle: "short", timeStyle: "short" }) }) }),
    el("p", { class: "report-reason" }, el("span", { class: "muted", text: `${t("report.reason")}: ` }), r.reason_erased ? t("mod.reasonErased") : r.reason),
    el("ol", { class: "ctx-list", "aria-label": t("mod.context") },
      ...(r.before || []).map((m) => messageNode(r.room.id, m, false)), messageNode(r.room.id, r.message, true),
      ...(r.after || []).map((m) => messageNode(r.room.id, m, false))),
    actions, status,
    el("label", { for: `mod-note-${r.id}`, text: t("mod.note") }), note,
    el("div", { class: "mod-actions" },
      button("mod.resolve", "approve", () => resolve(r, "resolved", note, status)),
      button("mod.dismiss", "link-btn", () => resolve(r, "dismiss", note, status))));
}

function render() {
  const list = [...reports.values()].sort((a, b) => a.id - b.id);
  $("mod-queue").replaceChildren(...(list.length ? list.map(reportCard) : [el("li", { class: "muted", text: t("mod.empty") })]));
}

/** New reports since the last one held (and the full list the first time). */
async function poll() {
  try {
    let after = reports.size ? Math.max(...reports.keys()) : null;
    let more = true;
    let added = false;
    while (more) {
      const res = await fetch(`/api/v1/moderation/reports?status=open${after ? `&after=${after}` : ""}`, { credentials: "same-origin" });
      if (!res.ok) throw new Error(String(res.status));
      const body = await res.json();
      for (const r of body.reports) {
        if (!reports.has(r.id)) added = true;
        reports.set(r.id, r);
        after = r.id;
      }
      more = body.more && body.reports.length > 0;
    }
    $("mod-error").textContent = "";
    if (added || !$("mod-queue").children.length) render();
  } catch {
    $("mod-error").textContent = t("mod.failed");
  }
}

// --- The PHI-confirmation log ---------------------------------------------------------------

const PHI_OPS = ["message.send", "message.edit", "report", "mod.hide", "mod.ban", "report.resolve",
  "case.post", "case.resolve", "attachment.upload", "licence.decide", "adverse.report"];

function phiEntry(e) {
  const where = /^room:([^/]+)\//.exec(e.subject);
  return el("li", { class: "phi-entry", "data-entry": String(e.id) },
    el("time", { datetime: e.at, text: clock(e.at) }), " ",
    el("strong", { text: PHI_OPS.includes(e.op) ? t(`mod.phi.op.${e.op}`) : e.op }), " · ",
    el("span", { text: e.kinds.map(phiKindName).join(", ") }), " ",
    el("span", { class: "muted", text: t("mod.phi.count", { n: e.count }) }), " ",
    el("span", { class: "muted", text: where ? ctx.roomTitle(where[1], null) : e.subject }), " ",
    el("span", { class: "muted", text: t("mod.phi.by", { who: e.actor }) }));
}

async function loadPhi(more = false) {
  try {
    const res = await fetch(`/api/v1/moderation/phi-confirmations${more && phiBefore ? `?before=${phiBefore}` : ""}`,
      { credentials: "same-origin" });
    if (!res.ok) throw new Error(String(res.status));
    const body = await res.json();
    const items = body.entries.map(phiEntry);
    if (more) $("mod-phi").append(...items);
    else $("mod-phi").replaceChildren(...(items.length ? items : [el("li", { class: "muted", text: t("mod.phi.none") })]));
    if (body.entries.length) phiBefore = body.entries[body.entries.length - 1].id;
    $("mod-phi-more").hidden = !body.more;
  } catch {
    $("mod-error").textContent = t("mod.failed");
  }
}

/** First look at every event: a new report (true when it was one). */
export function onEvent(frame) {
  if (frame.type !== "report.filed") return false;
  if (!$("mod-view").hidden) poll();
  else {
    unseen += 1;
    $("mod-open").textContent = t("mod.openNew", { n: unseen });
  }
  return true;
}

/** After every welcome: an open console asks for what was filed while the socket was down
 * (or before it was up): report.filed reaches only a connected socket. */
export function onWelcome() {
  if (ctx && !$("mod-view").hidden) poll();
}

export function open() {
  ctx.show(true);
  unseen = 0;
  $("mod-open").setAttribute("aria-pressed", "true");
  $("mod-open").textContent = t("verify.close");
  reports = new Map();
  $("mod-queue").replaceChildren();
  phiBefore = 0;
  poll();
  loadPhi();
  clearInterval(timer);
  timer = setInterval(poll, POLL_MS);
  $("mod-title").focus();
}

/** Stop polling; the button back to "Moderation" (the view itself is app.js's to hide). */
export function deactivate() {
  clearInterval(timer);
  timer = null;
  $("mod-open").setAttribute("aria-pressed", "false");
  $("mod-open").textContent = unseen ? t("mod.openNew", { n: unseen }) : t("mod.open");
}

export function close() {
  deactivate();
  ctx.show(false);
}

export function rerender() {
  if (!ctx) return;
  const pressed = $("mod-open").getAttribute("aria-pressed") === "true";
  $("mod-open").textContent = pressed ? t("verify.close") : unseen ? t("mod.openNew", { n: unseen }) : t("mod.open");
  if (!$("mod-view").hidden) {
    render();
    phiBefore = 0;
    loadPhi();
  }
}

export function install(context) {
  ctx = context;
  $("mod-open").addEventListener("click", () => ($("mod-view").hidden ? open() : close()));
  $("mod-refresh").addEventListener("click", () => {
    poll();
    phiBefore = 0;
    loadPhi();
  });
  $("mod-phi-more").addEventListener("click", () => loadPhi(true));
}

export function reset() {
  clearInterval(timer);
  timer = null;
  reports = new Map();
  unseen = 0;
  phiBefore = 0;
  $("mod-phi").replaceChildren();
  $("mod-view").hidden = true;
  $("mod-open").hidden = true;
  $("mod-open").setAttribute("aria-pressed", "false");
}
