// The client's one WebSocket (/ws/v1/, session cookie): requests with refs and their replies,
// the heartbeat, and reconnects with exponential backoff and jitter.
//
// The page decides what events mean; this module only calls the hooks it was given:
//   onEvent(frame)      every event frame (session.welcome included, after the heartbeat starts)
//   onDown()            the socket closed (before any reconnect)
//   onStatus(key, p)    the connection line changed ("conn.connecting", "conn.retry", …)
//   onEnded(code)       4401 / 4403: the session is over, no reconnect

import { t } from "./i18n.js";

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15000;

/** The reply a request gets while the socket is down (`local: true`: never from the server). */
export function offlineReply() {
  return { op: "reply", ok: false, error: { code: "unavailable", message: t("error.offline"), local: true } };
}

/** 4401 when the session is gone, 4403 when the account may not connect, else 0. */
async function sessionRefusal() {
  try {
    const res = await fetch("/api/v1/me", { credentials: "same-origin" });
    if (res.status === 401) return 4401;
    if (res.ok) {
      const body = await res.json();
      if (!body.physician?.verified) return 4403;
    }
  } catch {
    // Network down: keep retrying with backoff.
  }
  return 0;
}

export class Connection {
  constructor({ onEvent, onDown, onStatus, onEnded }) {
    this.hooks = { onEvent, onDown, onStatus, onEnded };
    this.ws = null;
    this.nextRef = 1;
    this.waiting = new Map(); // ref → resolve
    this.attempt = 0;
    this.stopped = true;
    this.welcomed = false;
    this.retryTimer = null;
    this.heartbeat = null;
  }

  start() {
    this.stopped = false;
    this.attempt = 0;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
    this.failWaiting();
  }

  open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws/v1/`);
    this.ws = ws;
    this.welcomed = false;
    this.hooks.onStatus("conn.connecting");
    ws.addEventListener("message", (ev) => this.receive(ev.data));
    ws.addEventListener("close", (ev) => this.closed(ws, ev));
  }

  isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.welcomed;
  }

  /** Send one op; resolves with its reply frame (a local `unavailable` one when offline). */
  request(op, args = {}) {
    if (!this.isOpen()) return Promise.resolve(offlineReply());
    const ref = `c-${this.nextRef++}`;
    return new Promise((resolve) => {
      this.waiting.set(ref, resolve);
      this.ws.send(JSON.stringify({ op, ref, ...args }));
    });
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.op === "reply") {
      const resolve = this.waiting.get(frame.ref);
      if (resolve) {
        this.waiting.delete(frame.ref);
        resolve(frame);
      }
      return;
    }
    if (frame.op !== "event") return;
    if (frame.type === "session.welcome") {
      this.welcomed = true;
      this.attempt = 0;
      clearInterval(this.heartbeat);
      const every = Math.max(5, frame.data.heartbeat_s || 25) * 1000;
      this.heartbeat = setInterval(() => this.request("ping"), every);
    }
    this.hooks.onEvent(frame);
  }

  failWaiting() {
    for (const resolve of this.waiting.values()) resolve(offlineReply());
    this.waiting.clear();
  }

  async closed(ws, ev) {
    if (ws !== this.ws) return; // an old socket we already replaced or stopped
    clearInterval(this.heartbeat);
    this.ws = null;
    const wasWelcomed = this.welcomed;
    this.welcomed = false;
    this.failWaiting();
    this.hooks.onDown();
    if (this.stopped) return;
    let code = ev.code;
    if (!wasWelcomed && code !== 4401 && code !== 4403) {
      // A refused handshake reaches the browser as a bare 1006: ask HTTP why.
      code = await sessionRefusal();
      if (this.stopped) return;
    }
    if (code === 4401 || code === 4403) {
      this.stop();
      this.hooks.onEnded(code);
      return;
    }
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2); // jitter: no herd
    this.attempt += 1;
    this.hooks.onStatus("conn.retry", { s: Math.ceil(delay / 1000) });
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) this.open();
    }, delay);
  }
}
