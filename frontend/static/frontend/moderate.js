// Reports and the moderator console. Every member gets "Report" on others' messages (the
// `report` op); moderators get "Moderation" in the top bar: the open reports
// (GET /api/v1/moderation/reports, polled while the console is open, so new ones arrive
// without a reload) with the message and its context, and the actions of docs/moderation.md:
// hide / unhide, a timed mute, kick, room or network ban, resolve or dismiss with a note.

import { jsonHeaders } from "./csrf.js";
import { $, el } from "./dom.js";
import { has, language, t } from "./i18n.js";

const POLL_MS = 10000;
const MUTE_CHOICES = [15, 60, 1440];

let ctx = null; // {conn, roomTitle(id, summary), show(bool)}
let reports = new Map(); // id → report
let timer = null;

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

function messageNode(m, reported) {
  if (!m) return null;
  return el("li", { class: `ctx-msg${reported ? " reported" : ""}`, "data-seq": String(m.seq) },
    el("span", { class: "author", text: m.author?.name || "?" }), " ",
    el("time", { datetime: m.sent_at || "", text: m.sent_at ? new Date(m.sent_at).toLocaleTimeString(language(), { hour: "2-digit", minute: "2-digit" }) : "" }),
    m.hidden ? el("span", { class: "marker", text: ` (${t("msg.hidden")})` }) : null,
    m.edited ? el("span", { class: "marker", text: ` (${t("msg.edited")})` }) : null,
    el("p", { class: "body", text: m.deleted ? t("msg.deleted") : m.body }));
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
    el("p", { class: "muted", text: t("mod.reportedBy", { who: r.reporter, when: new Date(r.created_at).toLocaleString(language(), { dateStyle: "short", timeStyle: "short" }) }) }),
    el("p", { class: "report-reason" }, el("span", { class: "muted", text: `${t("report.reason")}: ` }), r.reason_erased ? t("mod.reasonErased") : r.reason),
    el("ol", { class: "ctx-list", "aria-label": t("mod.context") },
      ...(r.before || []).map((m) => messageNode(m, false)), messageNode(r.message, true),
      ...(r.after || []).map((m) => messageNode(m, false))),
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

export function open() {
  ctx.show(true);
  $("mod-open").setAttribute("aria-pressed", "true");
  $("mod-open").textContent = t("verify.close");
  reports = new Map();
  $("mod-queue").replaceChildren();
  poll();
  clearInterval(timer);
  timer = setInterval(poll, POLL_MS);
  $("mod-title").focus();
}

/** Stop polling; the button back to "Moderation" (the view itself is app.js's to hide). */
export function deactivate() {
  clearInterval(timer);
  timer = null;
  $("mod-open").setAttribute("aria-pressed", "false");
  $("mod-open").textContent = t("mod.open");
}

export function close() {
  deactivate();
  ctx.show(false);
}

export function rerender() {
  if (!ctx) return;
  $("mod-open").textContent = t($("mod-open").getAttribute("aria-pressed") === "true" ? "verify.close" : "mod.open");
  if (!$("mod-view").hidden) render();
}

export function install(context) {
  ctx = context;
  $("mod-open").addEventListener("click", () => ($("mod-view").hidden ? open() : close()));
  $("mod-refresh").addEventListener("click", poll);
}

export function reset() {
  clearInterval(timer);
  timer = null;
  reports = new Map();
  $("mod-view").hidden = true;
  $("mod-open").hidden = true;
  $("mod-open").setAttribute("aria-pressed", "false");
}
