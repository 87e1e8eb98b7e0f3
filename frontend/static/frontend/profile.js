// The physician's own profile: languages and extra specialties (PATCH /api/v1/me), the
// weekly on-call schedule in local time (GET/PUT /api/v1/me/on-call-schedule, stored as
// physicians/oncall.py's [day, "HH:MM", "HH:MM"] windows in the chosen time zone), the
// password (POST /api/v1/auth/password) and what pseudonyms are. Text only through el().

import { countryName } from "./account.js";
import { jsonHeaders } from "./csrf.js";
import { $, el } from "./dom.js";
import { has, language, t } from "./i18n.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const LANGS = ["en", "es", "fr", "pt", "de", "it"];
const MAX_SLOTS = 64; // physicians/oncall.py MAX_WINDOWS

// {show(bool), specialties(), specialtyName(slug), pseudonyms() → [{room, name}],
//  expectReconnect(bool), profileChanged(physician)}
let ctx = null;
let profile = null; // GET /api/v1/me's physician
let extra = []; // the extra specialties being edited
let langs = new Set();
let slots = []; // [{day, start, end}] being edited
let zone = "UTC";
let loaded = false;

function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

function zones() {
  let list = [];
  try {
    list = Intl.supportedValuesOf("timeZone");
  } catch {
    list = [];
  }
  return [...new Set(["UTC", ...list, zone, browserZone()])];
}

/** Monday … Sunday in the UI language (1 January 2024 was a Monday). */
function dayName(day) {
  const i = DAYS.indexOf(day);
  return new Date(Date.UTC(2024, 0, 1 + i)).toLocaleDateString(language(), { weekday: "long", timeZone: "UTC" });
}

function langName(code) {
  if (has(`langname.${code}`)) return t(`langname.${code}`);
  try {
    return new Intl.DisplayNames([language()], { type: "language" }).of(code) || code;
  } catch {
    return code;
  }
}

/** What a refusal says: each field's stable code (details.reasons) in words, else the message. */
function refusal(error) {
  const reasons = error?.details?.reasons || {};
  const said = Object.values(reasons).filter((code) => has(`profile.err.${code}`)).map((code) => t(`profile.err.${code}`));
  if (said.length) return said.join(" ");
  if (error?.code === "rate_limited") return t("login.limited", { s: Math.ceil(error.details?.retry_after_s ?? 60) });
  if (error?.code && has(`error.${error.code}`)) return t(`error.${error.code}`);
  return error?.message || t("error.generic");
}

async function send(method, url, body) {
  const res = await fetch(url, {
    method, credentials: "same-origin", headers: jsonHeaders(), body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  return { ok: res.ok, status: res.status, data };
}

// --- Who you are, pseudonyms ------------------------------------------------------------------

function renderWho() {
  if (!profile) return;
  const fact = (label, value) => [el("dt", { text: label }), el("dd", { text: value || "—" })];
  $("profile-facts").replaceChildren(
    ...fact(t("profile.name"), profile.display_name),
    ...fact(t("login.email"), profile.email),
    ...fact(t("signup.country"), `${countryName(profile.country)}${profile.jurisdiction ? ` · ${profile.jurisdiction}` : ""}`),
    ...fact(t("verify.status"), t(`licence.${profile.licence_status}`)));
  $("profile-pseudo").textContent = t("profile.pseudo");
  const rooms = ctx.pseudonyms();
  $("profile-pseudo-rooms").replaceChildren(...rooms.map(({ room, name }) => el("li", {},
    t("profile.pseudo.room", { room, name }))));
}

// --- Languages and specialties --------------------------------------------------------------

function renderConsult() {
  if (!profile) return;
  const codes = [...new Set([...LANGS, ...langs])];
  $("profile-languages").replaceChildren(...codes.map((code) => {
    const id = `profile-lang-${code}`;
    const box = el("input", { type: "checkbox", id, value: code, checked: langs.has(code) });
    box.addEventListener("change", () => (box.checked ? langs.add(code) : langs.delete(code)));
    return el("span", { class: "check" }, box, el("label", { for: id, text: langName(code) }));
  }));
  $("profile-primary").textContent = t("profile.primary", { name: ctx.specialtyName(profile.specialty) || profile.specialty });
  $("profile-extra").replaceChildren(...(extra.length ? extra.map((slug) => {
    const name = ctx.specialtyName(slug) || slug;
    const remove = el("button", { type: "button", class: "link-btn", "aria-label": t("profile.remove", { name }), text: "✕" });
    remove.addEventListener("click", () => {
      extra = extra.filter((s) => s !== slug);
      renderConsult();
      $("profile-add-specialty").focus();
    });
    return el("li", { class: "chip", "data-slug": slug }, el("span", { text: name }), remove);
  }) : [el("li", { class: "muted", text: t("profile.extra.none") })]));
  const select = $("profile-add-specialty");
  select.replaceChildren(el("option", { value: "", text: t("post.pickSpecialty") }),
    ...ctx.specialties().filter((s) => s.slug !== profile.specialty && !extra.includes(s.slug))
      .map((s) => el("option", { value: s.slug, text: s.name })));
}

function addSpecialty() {
  const slug = $("profile-add-specialty").value;
  if (!slug) return;
  extra = [...extra, slug];
  renderConsult();
  $("profile-add-specialty").focus();
}

async function saveConsult(ev) {
  ev.preventDefault();
  $("profile-form-error").textContent = "";
  $("profile-form-status").textContent = "";
  if (!langs.size) {
    $("profile-form-error").textContent = t("profile.err.languages_empty");
    return;
  }
  $("profile-save").disabled = true;
  try {
    const res = await send("PATCH", "/api/v1/me", { languages: [...langs], specialties: extra });
    if (!res.ok) {
      $("profile-form-error").textContent = refusal(res.data.error);
      return;
    }
    setProfile(res.data.physician);
    ctx.profileChanged(profile);
    $("profile-form-status").textContent = t("profile.saved");
  } catch {
    $("profile-form-error").textContent = t("profile.offline");
  } finally {
    $("profile-save").disabled = false;
  }
}

// --- The on-call schedule -------------------------------------------------------------------

function endsNextDay(slot) {
  return slot.end <= slot.start;
}

function renderZone() {
  const select = $("schedule-tz");
  select.replaceChildren(...zones().map((z) => el("option", { value: z, text: z.replaceAll("_", " ") })));
  select.value = zone;
  let now = "";
  try {
    now = new Date().toLocaleString(language(), { timeZone: zone, weekday: "long", hour: "2-digit", minute: "2-digit" });
  } catch {
    now = "";
  }
  $("schedule-tz-now").textContent = t("schedule.tzNow", { zone: zone.replaceAll("_", " "), now })
    + (zone !== browserZone() ? ` ${t("schedule.tzBrowser", { zone: browserZone().replaceAll("_", " ") })}` : "");
}

function renderSlots() {
  $("schedule-empty").hidden = slots.length > 0;
  $("schedule-add").disabled = slots.length >= MAX_SLOTS;
  $("schedule-slots").replaceChildren(...slots.map((slot, i) => {
    const n = i + 1;
    const day = el("select", { id: `slot-day-${i}` }, ...DAYS.map((d) => el("option", { value: d, text: dayName(d) })));
    day.value = slot.day;
    day.addEventListener("change", () => {
      slot.day = day.value;
    });
    const start = el("input", { type: "time", id: `slot-start-${i}`, value: slot.start, required: true });
    const end = el("input", { type: "time", id: `slot-end-${i}`, value: slot.end, required: true });
    const next = el("span", { class: "muted slot-next", text: endsNextDay(slot) ? t("schedule.nextDay") : "" });
    for (const [input, key] of [[start, "start"], [end, "end"]]) {
      input.addEventListener("change", () => {
        slot[key] = input.value;
        next.textContent = slot.start && slot.end && endsNextDay(slot) ? t("schedule.nextDay") : "";
      });
    }
    const remove = el("button", { type: "button", class: "link-btn", text: t("schedule.remove"),
      "aria-label": t("schedule.removeN", { n }) });
    remove.addEventListener("click", () => {
      slots.splice(i, 1);
      renderSlots();
      $(slots.length ? `slot-day-${Math.min(i, slots.length - 1)}` : "schedule-add").focus();
    });
    return el("li", { class: "slot", "data-slot": String(i) },
      el("fieldset", {},
        el("legend", { text: t("schedule.slot", { n }) }),
        el("span", { class: "slot-field" }, el("label", { for: day.id, text: t("schedule.day") }), day),
        el("span", { class: "slot-field" }, el("label", { for: start.id, text: t("schedule.start") }), start),
        el("span", { class: "slot-field" }, el("label", { for: end.id, text: t("schedule.end") }), end),
        next, remove));
  }));
}

function addSlot() {
  const last = slots[slots.length - 1];
  const day = last ? DAYS[(DAYS.indexOf(last.day) + 1) % 7] : "mon";
  slots.push({ day, start: last?.start || "18:00", end: last?.end || "08:00" });
  renderSlots();
  $(`slot-day-${slots.length - 1}`).focus();
}

async function saveSchedule(ev) {
  ev.preventDefault();
  $("schedule-error").textContent = "";
  $("schedule-status").textContent = "";
  const bad = slots.findIndex((s) => !/^\d\d:\d\d$/.test(s.start) || !/^\d\d:\d\d$/.test(s.end));
  if (bad >= 0) {
    $("schedule-error").textContent = t("schedule.incomplete", { n: bad + 1 });
    $(`slot-start-${bad}`).focus();
    return;
  }
  $("schedule-save").disabled = true;
  try {
    const res = await send("PUT", "/api/v1/me/on-call-schedule", {
      schedule: slots.map((s) => [s.day, s.start, s.end]), time_zone: $("schedule-tz").value,
    });
    if (!res.ok) {
      $("schedule-error").textContent = refusal(res.data.error);
      return;
    }
    setSchedule(res.data);
    $("schedule-status").textContent = t("schedule.saved");
  } catch {
    $("schedule-error").textContent = t("profile.offline");
  } finally {
    $("schedule-save").disabled = false;
  }
}

function setSchedule(data) {
  slots = (data.schedule || []).map(([day, start, end]) => ({ day, start, end }));
  // A schedule never saved is offered in the browser's zone; a saved one keeps its own.
  zone = slots.length || data.time_zone !== "UTC" ? data.time_zone : browserZone();
  renderZone();
  renderSlots();
}

// --- Password ---------------------------------------------------------------------------------

async function changePassword(ev) {
  ev.preventDefault();
  const current = $("password-current").value;
  const next = $("password-new").value;
  $("password-error").textContent = "";
  $("password-status").textContent = "";
  if (!current || !next) {
    $("password-error").textContent = t("password.missing");
    $(current ? "password-new" : "password-current").focus();
    return;
  }
  $("password-save").disabled = true;
  // The new password closes every socket of the account, this tab's too (4401): this tab
  // keeps its session, so its socket comes straight back instead of going to the login.
  ctx.expectReconnect(true);
  try {
    const res = await send("POST", "/api/v1/auth/password", { current_password: current, new_password: next });
    if (!res.ok) {
      ctx.expectReconnect(false);
      $("password-error").textContent = refusal(res.data.error);
      $(res.data.error?.details?.reasons?.new_password ? "password-new" : "password-current").focus();
      return;
    }
    $("password-current").value = "";
    $("password-new").value = "";
    $("password-status").textContent = t("password.changed");
  } catch {
    ctx.expectReconnect(false);
    $("password-error").textContent = t("profile.offline");
  } finally {
    $("password-save").disabled = false;
  }
}

// --- The page ---------------------------------------------------------------------------------

function setProfile(physician) {
  profile = physician;
  langs = new Set(physician.languages);
  extra = [...physician.specialties];
  renderWho();
  renderConsult();
}

async function load() {
  $("profile-error").textContent = "";
  try {
    const [me, schedule] = await Promise.all([
      fetch("/api/v1/me", { credentials: "same-origin" }),
      fetch("/api/v1/me/on-call-schedule", { credentials: "same-origin" }),
    ]);
    if (!me.ok || !schedule.ok) throw new Error(String(me.status));
    setProfile((await me.json()).physician);
    setSchedule(await schedule.json());
    loaded = true;
  } catch {
    $("profile-error").textContent = t("profile.failed");
  }
}

export function open() {
  ctx.show(true);
  $("profile-open").setAttribute("aria-pressed", "true");
  for (const id of ["profile-form-status", "profile-form-error", "schedule-status", "schedule-error",
    "password-status", "password-error"]) $(id).textContent = "";
  load();
  $("profile-title").focus();
}

export function deactivate() {
  $("profile-open").setAttribute("aria-pressed", "false");
}

export function close() {
  deactivate();
  ctx.show(false);
}

export function rerender() {
  if (!ctx || !loaded) return;
  renderWho();
  renderConsult();
  renderZone();
  renderSlots();
}

export function install(context) {
  ctx = context;
  $("profile-open").addEventListener("click", () => ($("profile-view").hidden ? open() : close()));
  $("profile-back").addEventListener("click", close);
  $("profile-add").addEventListener("click", addSpecialty);
  $("profile-form").addEventListener("submit", saveConsult);
  $("schedule-add").addEventListener("click", addSlot);
  $("schedule-tz").addEventListener("change", () => {
    zone = $("schedule-tz").value;
    renderZone();
  });
  $("schedule-form").addEventListener("submit", saveSchedule);
  $("password-form").addEventListener("submit", changePassword);
}

export function reset() {
  profile = null;
  loaded = false;
  slots = [];
  $("profile-view").hidden = true;
  $("profile-open").hidden = true;
  deactivate();
  $("password-current").value = "";
  $("password-new").value = "";
}
