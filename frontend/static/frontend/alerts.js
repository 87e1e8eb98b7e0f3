// Alerts that reach a person when an urgent offer comes in: a short sound (which the user can
// turn off, remembered in this browser), a browser notification (permission asked once, after
// saying why), and the tab's title, which says an offer waits until every offer is answered.
//
// urgent.js calls offerRaised / offerGone / askOnce; nothing here knows about offers otherwise.

import { $ } from "./dom.js";
import { t } from "./i18n.js";

const SOUND_KEY = "curbside.sound"; // "off" when the user turned the sound off
const ASKED_KEY = "curbside.notifyAsked"; // set once the explanation was answered
const BASE_TITLE = "Curbside";

let audio = null; // AudioContext, made at the first user gesture (browsers' autoplay rule)
const shown = new Map(); // offer key → Notification
let waiting = 0; // offers still unanswered

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // private mode: defaults
  }
}

function store(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
}

let soundOn = true;

export const soundEnabled = () => soundOn;

/** Two short tones (about half a second in all), through Web Audio: no file to fetch. */
function ring() {
  if (!soundOn || !audio) return;
  if (audio.state === "suspended") audio.resume().catch(() => {});
  const now = audio.currentTime;
  for (const at of [0, 0.25]) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, now + at);
    gain.gain.exponentialRampToValueAtTime(0.25, now + at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.18);
    osc.connect(gain).connect(audio.destination);
    osc.start(now + at);
    osc.stop(now + at + 0.2);
  }
}

function unlockAudio() {
  if (audio || !window.AudioContext) return;
  try {
    audio = new AudioContext();
  } catch {
    audio = null; // no sound on this browser; the notification and title still work
  }
}

function notifyPermission() {
  return "Notification" in window ? Notification.permission : "unsupported";
}

export function updateTitle() {
  document.title = waiting ? `(${waiting}) ⚡ ${t("alerts.title")} · ${BASE_TITLE}` : BASE_TITLE;
}

/** An offer came in: ring, notify, and say so in the tab's title. */
export function offerRaised(key, title, body, count) {
  waiting = count;
  updateTitle();
  ring();
  if (notifyPermission() === "granted" && !shown.has(key)) {
    try {
      const n = new Notification(title, { body, tag: key, requireInteraction: true, lang: document.documentElement.lang });
      n.onclick = () => {
        window.focus();
        n.close();
      };
      shown.set(key, n);
    } catch {
      // Some browsers allow notifications only from a service worker: the page alerts still show.
    }
  } else if (notifyPermission() === "default") askOnce();
}

/** An offer was answered, taken, withdrawn or expired. */
export function offerGone(key, count) {
  waiting = count;
  updateTitle();
  shown.get(key)?.close();
  shown.delete(key);
}

/** Explain, once, why a notification helps, then let the browser ask. */
export function askOnce() {
  if (notifyPermission() !== "default" || stored(ASKED_KEY)) return;
  $("notify-ask").hidden = false;
}

async function answerAsk(allow) {
  $("notify-ask").hidden = true;
  store(ASKED_KEY, "1");
  if (allow && notifyPermission() === "default") {
    try {
      await Notification.requestPermission();
    } catch {
      // An old browser with the callback form only: nothing more to do.
    }
  }
}

export function renderAlertControls() {
  $("alert-sound").checked = soundOn;
}

export function install() {
  soundOn = stored(SOUND_KEY) !== "off";
  renderAlertControls();
  $("alert-sound").addEventListener("change", (ev) => {
    soundOn = ev.target.checked;
    store(SOUND_KEY, soundOn ? "on" : "off");
  });
  $("notify-allow").addEventListener("click", () => answerAsk(true));
  $("notify-later").addEventListener("click", () => answerAsk(false));
  for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, unlockAudio, { capture: true });
}

/** Logged out: no title, no notifications left behind. */
export function reset() {
  for (const n of shown.values()) n.close();
  shown.clear();
  waiting = 0;
  updateTitle();
  $("notify-ask").hidden = true;
}
