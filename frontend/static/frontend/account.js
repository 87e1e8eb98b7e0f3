// Sign-up (POST /api/v1/auth/register) and the page a signed-in physician whose licence is
// not verified yet sees instead of the chat. Same safety rule: text only through el().

import { jsonHeaders } from "./csrf.js";
import { $, el } from "./dom.js";
import { has, language, t } from "./i18n.js";

// physicians/licences.py SUPPORTED_COUNTRIES; names come from the browser (Intl).
const COUNTRIES = ["US", "GB", "CA", "AU", "IE", "NZ", "ZA", "ES", "MX"];
const LANGS = ["en", "es", "fr", "pt", "de", "it"];

let ctx = null; // {signedIn(physician), showLogin(), specialties()}
let pendingProfile = null;

const views = ["login-view", "signup-view", "pending-view"];

function only(id) {
  for (const v of views) $(v).hidden = v !== id;
}

/** A licence country's name in the UI language (the profile page uses it too). */
export function countryName(code) {
  try {
    return new Intl.DisplayNames([language()], { type: "region" }).of(code) || code;
  } catch {
    return code;
  }
}

function renderSignupOptions() {
  const country = $("signup-country");
  const chosenCountry = country.value;
  country.replaceChildren(el("option", { value: "", text: t("signup.pickCountry") }),
    ...COUNTRIES.map((c) => el("option", { value: c, text: countryName(c) }))
      .sort((a, b) => a.textContent.localeCompare(b.textContent, language())));
  country.value = chosenCountry;
  const specialty = $("signup-specialty");
  const chosen = specialty.value;
  specialty.replaceChildren(el("option", { value: "", text: t("post.pickSpecialty") }),
    ...ctx.specialties().map((s) => el("option", { value: s.slug, text: s.name })));
  specialty.value = chosen;
  const checked = new Set([...document.querySelectorAll("#signup-languages input:checked")].map((i) => i.value));
  if (!checked.size) checked.add(language());
  $("signup-languages").replaceChildren(...LANGS.map((code) => {
    const id = `signup-lang-${code}`;
    return el("span", { class: "check" },
      el("input", { type: "checkbox", id, value: code, checked: checked.has(code) }),
      el("label", { for: id, text: t(`langname.${code}`) }));
  }));
}

export function showSignup() {
  only("signup-view");
  renderSignupOptions();
  $("signup-error").textContent = "";
  $("signup-first").focus();
}

function refusal(status, error) {
  if (error?.code === "rate_limited") return t("login.limited", { s: Math.ceil(error.details?.retry_after_s ?? 60) });
  const fields = error?.fields || (error?.details?.field ? { [error.details.field]: error.message } : null);
  if (fields && Object.keys(fields).length) {
    const names = Object.keys(fields).map((f) => (has(`signup.field.${f}`) ? t(`signup.field.${f}`) : f));
    return `${t("signup.fix", { fields: names.join(", ") })} ${Object.values(fields).join(" ")}`;
  }
  return error?.message || t("login.failed");
}

async function submitSignup(ev) {
  ev.preventDefault();
  const value = (id) => $(id).value.trim();
  const body = {
    first_name: value("signup-first"), last_name: value("signup-last"), email: value("signup-email"),
    password: $("signup-password").value, country: value("signup-country"),
    jurisdiction: value("signup-jurisdiction"), licence_number: value("signup-licence"),
    specialty: value("signup-specialty"), display_name: value("signup-display"),
    languages: [...document.querySelectorAll("#signup-languages input:checked")].map((i) => i.value),
  };
  const missing = ["first_name", "last_name", "email", "password", "country", "licence_number", "specialty"]
    .filter((f) => !body[f]);
  if (missing.length) {
    $("signup-error").textContent = t("signup.missing", { fields: missing.map((f) => t(`signup.field.${f}`)).join(", ") });
    return;
  }
  if (!body.display_name) delete body.display_name;
  $("signup-submit").disabled = true;
  $("signup-error").textContent = "";
  try {
    const res = await fetch("/api/v1/auth/register", {
      method: "POST", credentials: "same-origin", headers: jsonHeaders(), body: JSON.stringify(body),
    });
    if (res.status !== 202) {
      $("signup-error").textContent = refusal(res.status, (await res.json().catch(() => ({}))).error);
      return;
    }
    // The answer is the same for a new account and a taken address: try to sign in with it.
    const login = await fetch("/api/v1/auth/login", {
      method: "POST", credentials: "same-origin", headers: jsonHeaders(),
      body: JSON.stringify({ email: body.email, password: body.password }),
    });
    $("signup-password").value = "";
    if (login.ok) {
      ctx.signedIn((await login.json()).physician);
    } else {
      ctx.showLogin(t("signup.checkMail"));
      $("login-email").value = body.email;
    }
  } catch {
    $("signup-error").textContent = t("login.failed");
  } finally {
    $("signup-submit").disabled = false;
  }
}

/** Signed in, not verified: say where the licence stands and what happens next. */
export function showPending(profile) {
  pendingProfile = profile;
  only("pending-view");
  renderPending();
  $("pending-title").focus();
}

function renderPending() {
  const p = pendingProfile;
  if (!p) return;
  const status = p.licence_status || "pending";
  const state = has(`pending.title.${status}`) ? status : "pending";
  $("pending-title").textContent = t(`pending.title.${state}`);
  $("pending-text").textContent = t(`pending.text.${state}`, { country: countryName(p.country) });
  $("pending-next").textContent = t(`pending.next.${state}`, { email: p.email });
  $("pending-status").textContent = "";
}

async function checkAgain() {
  try {
    const res = await fetch("/api/v1/me", { credentials: "same-origin" });
    if (res.status === 401) return ctx.showLogin(t("session.ended"));
    const body = await res.json();
    if (body.physician?.verified) return ctx.signedIn(body.physician);
    pendingProfile = body.physician;
    renderPending();
    $("pending-status").textContent = t("pending.still");
  } catch {
    $("pending-status").textContent = t("login.failed");
  }
  return undefined;
}

export function rerender() {
  if (!ctx) return;
  if (!$("signup-view").hidden) renderSignupOptions();
  renderPending();
}

export function install(context) {
  ctx = context;
  $("signup-open").addEventListener("click", showSignup);
  $("signup-back").addEventListener("click", () => ctx.showLogin(""));
  $("signup-form").addEventListener("submit", submitSignup);
  $("pending-check").addEventListener("click", checkAgain);
  $("pending-logout").addEventListener("click", () => ctx.logout());
}

export function reset() {
  pendingProfile = null;
  $("signup-view").hidden = true;
  $("pending-view").hidden = true;
}
