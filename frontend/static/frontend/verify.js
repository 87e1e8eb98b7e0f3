// The verifier console: the licence queue (GET /api/v1/verifications) with what a check
// needs (country, jurisdiction, licence number, the registry's answer), approve / reject
// with a reason, and the audit trail (GET /api/v1/verifications/decided).

import { jsonHeaders } from "./csrf.js";
import { $, el } from "./dom.js";
import { has, language, t } from "./i18n.js";

let ctx = null; // {specialtyName(slug), show(bool)}
let pending = [];
let decided = [];

const when = (iso) => new Date(iso).toLocaleString(language(), { dateStyle: "medium", timeStyle: "short" });

function field(label, value) {
  return [el("dt", { text: label }), el("dd", { text: value || "—" })];
}

function trail(entry) {
  if (!entry.decisions.length) return el("p", { class: "muted", text: t("verify.noDecisions") });
  return el("ol", { class: "timeline" }, ...entry.decisions.map((d) => el("li", {},
    el("time", { datetime: d.at, text: when(d.at) }),
    el("span", { text: t("verify.step", { from: t(`licence.${d.from}`), to: t(`licence.${d.to}`) }) }), " ",
    el("span", { class: "muted", text: d.by_verifier ? t("verify.byVerifier") : t("verify.byBackend", { backend: d.backend }) }),
    d.reason ? el("q", { class: "reason", text: d.reason }) : null)));
}

function card(entry, { actions }) {
  const id = entry.id;
  const registry = entry.registry
    ? el("p", { class: "registry", "data-decision": entry.registry.decision },
      el("span", { class: `badge registry-${entry.registry.decision}`, text: t(`verify.registry.${entry.registry.decision}`) }),
      " ", el("span", { text: entry.registry.reason }))
    : el("p", { class: "muted", text: t("verify.registry.none") });
  const parts = [
    el("h3", { text: `${entry.first_name} ${entry.last_name}` }),
    el("dl", { class: "facts" },
      ...field(t("login.email"), entry.email),
      ...field(t("signup.country"), `${entry.country}`),
      ...field(t("signup.jurisdiction"), entry.jurisdiction),
      ...field(t("signup.licence"), entry.licence_number),
      ...field(t("post.specialty"), ctx.specialtyName(entry.specialty) || entry.specialty),
      ...field(t("verify.status"), t(`licence.${entry.licence_status}`))),
    el("h4", { text: t("verify.registry") }), registry,
    el("h4", { text: t("verify.trail") }), trail(entry),
  ];
  if (actions) {
    const reasonId = `verify-reason-${id}`;
    const reason = el("textarea", { id: reasonId, rows: "2", maxlength: "500" });
    const error = el("p", { class: "error", role: "alert" });
    const approve = el("button", { type: "button", class: "approve", text: t("verify.approve") });
    const reject = el("button", { type: "button", class: "danger reject", text: t("verify.reject") });
    approve.addEventListener("click", () => decide(entry, "verify", reason, error));
    reject.addEventListener("click", () => decide(entry, "reject", reason, error));
    parts.push(el("label", { for: reasonId, text: t("verify.reason") }), reason, error,
      el("div", { class: "offer-actions" }, approve, reject));
  }
  return el("li", { class: "console-card", "data-user": id }, ...parts);
}

async function decide(entry, action, reasonNode, errorNode) {
  const reason = reasonNode.value.trim();
  if (action === "reject" && !reason) {
    errorNode.textContent = t("verify.reasonNeeded");
    reasonNode.focus();
    return;
  }
  errorNode.textContent = "";
  try {
    const res = await fetch(`/api/v1/verifications/${encodeURIComponent(entry.id)}/${action}`, {
      method: "POST", credentials: "same-origin", headers: jsonHeaders(), body: JSON.stringify(reason ? { reason } : {}),
    });
    if (!res.ok) {
      const error = (await res.json().catch(() => ({}))).error;
      errorNode.textContent = has(`error.${error?.code}`) ? t(`error.${error.code}`) : error?.message || t("error.generic");
      return;
    }
    $("verify-error").textContent = "";
    await load();
    $("verify-title").focus();
  } catch {
    errorNode.textContent = t("login.failed");
  }
}

function render() {
  $("verify-queue").replaceChildren(...(pending.length ? pending.map((e) => card(e, { actions: true }))
    : [el("li", { class: "muted", text: t("verify.empty") })]));
  $("verify-decided").replaceChildren(...decided.map((e) => card(e, { actions: false })));
}

async function load() {
  try {
    const [queue, recent] = await Promise.all([
      fetch("/api/v1/verifications", { credentials: "same-origin" }),
      fetch("/api/v1/verifications/decided", { credentials: "same-origin" }),
    ]);
    if (!queue.ok || !recent.ok) throw new Error(String(queue.status));
    pending = (await queue.json()).pending;
    decided = (await recent.json()).decided;
    render();
  } catch {
    $("verify-error").textContent = t("verify.failed");
  }
}

export function open() {
  ctx.show(true);
  $("verify-open").setAttribute("aria-pressed", "true");
  $("verify-open").textContent = t("verify.close");
  load();
  $("verify-title").focus();
}

/** The button back to "Verification" (the view itself is app.js's to hide). */
export function deactivate() {
  $("verify-open").setAttribute("aria-pressed", "false");
  $("verify-open").textContent = t("verify.open");
}

export function close() {
  deactivate();
  ctx.show(false);
}

export function rerender() {
  if (!ctx) return;
  $("verify-open").textContent = t($("verify-open").getAttribute("aria-pressed") === "true" ? "verify.close" : "verify.open");
  if (!$("verify-view").hidden) render();
}

export function install(context) {
  ctx = context;
  $("verify-open").addEventListener("click", () => ($("verify-view").hidden ? open() : close()));
  $("verify-refresh").addEventListener("click", load);
}

export function reset() {
  pending = [];
  decided = [];
  $("verify-view").hidden = true;
  $("verify-open").hidden = true;
  $("verify-open").setAttribute("aria-pressed", "false");
}
