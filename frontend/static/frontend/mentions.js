// @-mention autocomplete in the composer. Typing "@" and a few letters lists the room's
// members seen so far (authors of the loaded messages, pseudonyms as the room shows them);
// ArrowDown / ArrowUp move, Enter or Tab picks, Escape closes. The textarea stays a textbox
// (aria-autocomplete="list", aria-controls, aria-activedescendant: the ARIA 1.2 combobox
// pattern without a role a textarea may not take); the list is a role="listbox".
// The picked members go with the message as `mentions` (their pseudonyms) while "@name"
// is still in the text.

import { $, el } from "./dom.js";
import { t } from "./i18n.js";

const MAX_SHOWN = 8;

let ctx = null; // {candidates() → [{pseudonym, name}]}
let shown = []; // the candidates listed now
let active = -1;
let start = -1; // index of the "@" being completed
let picked = new Map(); // name → pseudonym, for this draft

const input = () => $("composer-input");
const list = () => $("mention-list");

/** The "@word" ending at the caret: [index of "@", the letters after it], or null. */
function query() {
  const box = input();
  const upTo = box.value.slice(0, box.selectionStart);
  const m = /(^|\s)@([^\s@]{0,30})$/u.exec(upTo);
  return m ? [upTo.length - m[2].length - 1, m[2]] : null;
}

const fold = (s) => s.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();

function close() {
  shown = [];
  active = -1;
  start = -1;
  list().hidden = true;
  list().replaceChildren();
  input().removeAttribute("aria-activedescendant");
}

function render() {
  list().replaceChildren(...shown.map((c, i) => {
    const option = el("li", { id: `mention-opt-${i}`, role: "option", class: "mention-opt",
      "aria-selected": String(i === active), text: c.name });
    // mousedown, not click: the textarea keeps focus (and its caret).
    option.addEventListener("mousedown", (ev) => {
      ev.preventDefault();
      pick(i);
    });
    return option;
  }));
  list().hidden = shown.length === 0;
  if (active >= 0) input().setAttribute("aria-activedescendant", `mention-opt-${active}`);
  else input().removeAttribute("aria-activedescendant");
}

/** After each keystroke in the composer: open, filter or close the list. */
export function onInput() {
  const q = query();
  if (!q) return close();
  const [at, letters] = q;
  const want = fold(letters);
  shown = ctx.candidates().filter((c) => fold(c.name).replace(/^dr\.?\s*/, "").includes(want)
    || fold(c.name).includes(want)).slice(0, MAX_SHOWN);
  start = at;
  active = shown.length ? 0 : -1;
  render();
  return undefined;
}

function pick(i) {
  const c = shown[i];
  if (!c) return;
  const box = input();
  const caret = box.selectionStart;
  const text = `@${c.name} `;
  box.value = box.value.slice(0, start) + text + box.value.slice(caret);
  const at = start + text.length;
  box.setSelectionRange(at, at);
  picked.set(c.name, c.pseudonym);
  close();
  box.focus();
}

/** Keys while the list is open; true when the key was ours (the composer must not act). */
export function onKey(ev) {
  if (list().hidden || !shown.length) return false;
  if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
    ev.preventDefault();
    const step = ev.key === "ArrowDown" ? 1 : -1;
    active = (active + step + shown.length) % shown.length;
    render();
    return true;
  }
  if ((ev.key === "Enter" && !ev.shiftKey) || ev.key === "Tab") {
    ev.preventDefault();
    pick(active < 0 ? 0 : active);
    return true;
  }
  if (ev.key === "Escape") {
    ev.preventDefault();
    ev.stopPropagation();
    close();
    return true;
  }
  return false;
}

/** The pseudonyms of the members picked whose "@name" is still in ``body``. */
export function mentionsIn(body) {
  return [...new Set([...picked].filter(([name]) => body.includes(`@${name}`)).map(([, p]) => p))];
}

/** A draft was sent (or the room changed): forget what was picked. */
export function clear() {
  picked = new Map();
  close();
}

export function rerender() {
  if (list()) list().setAttribute("aria-label", t("mention.label"));
}

export function install(context) {
  ctx = context;
  const box = input();
  box.setAttribute("aria-autocomplete", "list");
  box.setAttribute("aria-controls", "mention-list");
  box.addEventListener("input", onInput);
  box.addEventListener("blur", close);
  rerender();
}
