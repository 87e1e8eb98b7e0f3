// The adverse drug event page: file a structured report, list my reports and, for the
// pharmacovigilance role, the week's new signals, every pair's statistics and a pair's chart.
// Talks only to /api/v1/adverse/ (docs/protocol.md); text goes in with textContent (dom.js).

import { $, el } from "./dom.js";
import { jsonHeaders } from "./csrf.js";
import { Connection } from "./connection.js";

const API = "/api/v1/adverse";
let vocab = null;
let live = null; // the officer's socket: adverse.signal events refresh the tables

async function getJson(path) {
  const response = await fetch(API + path, { credentials: "same-origin" });
  return { status: response.status, body: await response.json().catch(() => ({})) };
}

function options(select, values, chosen) {
  select.replaceChildren(...values.map((v) => el("option", { value: v, selected: v === chosen }, v.replaceAll("_", " "))));
}

function drugRow(container, kind) {
  const i = container.children.length;
  const path = `${kind}[${i}]`;
  const route = el("select", { class: "drug-route", "data-path": `${path}.route`, "aria-label": "Route" });
  options(route, vocab.routes, "unknown");
  container.append(el("div", { class: "row drug-row" },
    el("input", { class: "drug-name", "data-path": `${path}.name`, placeholder: "Drug (brand or generic)", "aria-label": "Drug name", maxlength: 120 }),
    el("input", { class: "drug-dose", "data-path": `${path}.dose`, placeholder: "Dose", "aria-label": "Dose", maxlength: 120 }),
    route,
    el("input", { class: "drug-start", "data-path": `${path}.start_year`, type: "number", placeholder: "Start year", "aria-label": "Start year", min: 1900 }),
    el("input", { class: "drug-stop", "data-path": `${path}.stop_year`, type: "number", placeholder: "Stop year", "aria-label": "Stop year", min: 1900 })));
}

function reactionRow(container) {
  const i = container.children.length;
  const outcome = el("select", { class: "reaction-outcome", "data-path": `reactions[${i}].outcome`, "aria-label": "Outcome" });
  options(outcome, vocab.outcomes, "unknown");
  container.append(el("div", { class: "row reaction-row" },
    el("input", { class: "reaction-term", "data-path": `reactions[${i}].term`, list: "adv-reaction-list", placeholder: "Reaction (English or Spanish)", "aria-label": "Reaction", maxlength: 120 }),
    outcome,
    el("input", { class: "reaction-onset", "data-path": `reactions[${i}].onset_days`, type: "number", min: 0, placeholder: "Onset (days after start)", "aria-label": "Onset in days after starting the drug" })));
}

function intOrNull(input) {
  return input.value === "" ? null : Number.parseInt(input.value, 10);
}

function drugsOf(container) {
  return [...container.querySelectorAll(".drug-row")]
    .filter((row) => row.querySelector(".drug-name").value.trim() !== "")
    .map((row) => ({
      name: row.querySelector(".drug-name").value,
      dose: row.querySelector(".drug-dose").value,
      route: row.querySelector(".drug-route").value,
      start_year: intOrNull(row.querySelector(".drug-start")),
      stop_year: intOrNull(row.querySelector(".drug-stop")),
    }));
}

function body() {
  const seriousness = {};
  for (const box of document.querySelectorAll("#adv-seriousness input")) seriousness[box.value] = box.checked;
  return {
    suspect_drugs: drugsOf($("adv-suspects")),
    concomitant_drugs: drugsOf($("adv-concomitants")),
    reactions: [...document.querySelectorAll(".reaction-row")]
      .filter((row) => row.querySelector(".reaction-term").value.trim() !== "")
      .map((row) => ({
        term: row.querySelector(".reaction-term").value,
        outcome: row.querySelector(".reaction-outcome").value,
        onset_days: intOrNull(row.querySelector(".reaction-onset")),
      })),
    seriousness,
    dechallenge: $("adv-dechallenge").value,
    rechallenge: $("adv-rechallenge").value,
    age_band: $("adv-age").value,
    sex: $("adv-sex").value,
    country: $("adv-country").value,
    narrative: $("adv-narrative").value,
    language: document.documentElement.lang === "es" ? "es" : "en",
    confirm_phi: $("adv-confirm-phi").checked,
  };
}

function showErrors(error) {
  for (const node of document.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  const list = $("adv-error");
  list.replaceChildren();
  if (!error) return;
  const fields = error.fields || {};
  if (error.code === "phi_detected") {
    fields[error.details.field] = error.message;
    $("adv-confirm-group").hidden = false;
  }
  const paths = Object.keys(fields);
  if (paths.length === 0) list.append(el("li", {}, error.message));
  for (const path of paths) {
    list.append(el("li", {}, `${path.replaceAll("_", " ")}: ${fields[path]}`));
    const node = document.querySelector(`[data-path="${CSS.escape(path)}"]`);
    if (node) node.setAttribute("aria-invalid", "true");
  }
}

function summary(report) {
  const drugs = report.suspect_drugs.map((d) => `${d.name} (${d.ingredient})`).join(", ");
  const reactions = report.reactions.map((r) => `${r.term} (${r.code})`).join(", ");
  return `${report.created_at.slice(0, 10)} · ${drugs} → ${reactions}${report.serious ? " · serious" : ""}`;
}

async function loadMine() {
  const { status, body: answer } = await getJson("/reports");
  if (status !== 200) return;
  $("adv-mine-section").hidden = false;
  $("adv-mine").replaceChildren(...answer.reports.map((r) => el("li", { "data-report": r.id }, summary(r))));
}

const fixed = (x) => (x === null || x === undefined ? "" : Number(x).toFixed(2));

function statCells(s) {
  return [el("td", {}, String(s.a)), el("td", {}, fixed(s.prr)), el("td", {}, fixed(s.chi2)),
    el("td", {}, `${fixed(s.ror)} (${fixed(s.ror_lower)}–${fixed(s.ror_upper)})`), el("td", {}, fixed(s.ic025))];
}

function showChart(drug, reaction) {
  const query = new URLSearchParams({ drug, reaction });
  $("adv-chart").src = `${API}/pairs/chart.svg?${query}`;
  $("adv-chart").alt = `Reports per week: ${drug} and ${reaction}`;
  $("adv-chart-caption").textContent = `${drug} — ${reaction}`;
  $("adv-chart-figure").hidden = false;
}

function listen() {
  live = new Connection({
    onEvent: (frame) => {
      if (frame.type === "session.welcome") $("adv-live").dataset.state = "online";
      if (frame.type !== "adverse.signal") return;
      const d = frame.data;
      $("adv-live").textContent = `New signal: ${d.drug} — ${d.reaction} (${d.reports} reports, PRR ${fixed(d.prr)})`;
      $("adv-live").hidden = false;
      loadOfficer();
    },
    onDown: () => { $("adv-live").dataset.state = "offline"; },
    onStatus: () => {},
    onEnded: () => {},
  });
  live.start();
}

async function loadOfficer() {
  $("adv-officer").hidden = false;
  if (live === null) listen();
  const week = await getJson("/signals");
  if (week.status === 200) {
    $("adv-signals").replaceChildren(...week.body.signals.map((s) => el("tr", { class: "signal", "data-pair": `${s.drug}|${s.reaction}` },
      el("td", {}, s.drug), el("td", {}, s.reaction_label.en || s.reaction), ...statCells(s.current || s.at_detection))));
  }
  const pairs = await getJson("/pairs");
  if (pairs.status !== 200) return;
  $("adv-pairs").replaceChildren(...pairs.body.pairs.map((p) => {
    const button = el("button", { type: "button", class: "link-btn" }, "Chart");
    button.addEventListener("click", () => showChart(p.drug, p.reaction));
    return el("tr", { class: p.evans ? "signal" : "", "data-pair": `${p.drug}|${p.reaction}` },
      el("td", {}, p.drug), el("td", {}, p.reaction), ...statCells(p),
      el("td", {}, p.evans ? "yes" : p.unknown ? "unknown term" : ""), el("td", {}, button));
  }));
}

async function submit(event) {
  event.preventDefault();
  $("adv-submit").disabled = true;
  $("adv-done").textContent = "";
  try {
    const response = await fetch(`${API}/reports`, {
      method: "POST", credentials: "same-origin", headers: jsonHeaders(), body: JSON.stringify(body()),
    });
    const answer = await response.json().catch(() => ({}));
    if (response.status === 201) {
      showErrors(null);
      $("adv-confirm-group").hidden = true;
      $("adv-confirm-phi").checked = false;
      $("adv-done").textContent = `Report filed: ${summary(answer.report)}`;
      await loadMine();
      if (vocab.officer) await loadOfficer();
    } else {
      showErrors(answer.error || { message: `The server answered ${response.status}.` });
    }
  } finally {
    $("adv-submit").disabled = false;
  }
}

async function start() {
  const { status, body: answer } = await getJson("/vocabulary");
  if (status === 401) {
    $("adv-signin").hidden = false;
    return;
  }
  vocab = answer;
  for (const [id, values, chosen] of [["adv-dechallenge", vocab.challenge, "unknown"],
    ["adv-rechallenge", vocab.challenge, "unknown"], ["adv-age", vocab.age_bands, "unknown"],
    ["adv-sex", vocab.sexes, "unknown"], ["adv-country", vocab.countries, vocab.my_country || vocab.countries[0]]]) {
    options($(id), values, chosen);
  }
  $("adv-seriousness").append(...vocab.seriousness.map((s) => el("label", {},
    el("input", { type: "checkbox", name: "seriousness", value: s, "data-path": `seriousness.${s}` }), ` ${s.replaceAll("_", " ")}`)));
  $("adv-reaction-list").replaceChildren(...vocab.reactions.flatMap((r) => [el("option", { value: r.en }), el("option", { value: r.es })]));
  drugRow($("adv-suspects"), "suspect_drugs");
  reactionRow($("adv-reactions"));
  $("adv-add-suspect").addEventListener("click", () => drugRow($("adv-suspects"), "suspect_drugs"));
  $("adv-add-concomitant").addEventListener("click", () => drugRow($("adv-concomitants"), "concomitant_drugs"));
  $("adv-add-reaction").addEventListener("click", () => reactionRow($("adv-reactions")));
  $("adv-form").addEventListener("submit", submit);
  $("adv-form").hidden = false;
  await loadMine();
  if (vocab.officer) await loadOfficer();
}

start();
