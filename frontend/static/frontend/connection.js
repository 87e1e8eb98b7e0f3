// The client's one WebSocket (/ws/v1/, session cookie): requests with refs and their replies,
// the heartbeat, and reconnects with exponential backoff and jitter.
//
// The page decides what events mean; this module only calls the hooks it was given:
//   onEvent(frame)      every event frame (session.welcome included, after the heartbeat starts)
//   onDown()            the socket closed (before any reconnect)
//   onStatus(key, p)    the connection line changed ("conn.connecting", "conn.retry",
//                       "conn.server_error", …)
//   onEnded(code)       4401 / 4403: the session is over, no reconnect

import { t } from "./i18n.js";

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15000;
// A close the server chose because it failed (1011 internal error, 1009 message too big) is
// not cured by coming straight back: the same join would fail the same way. Those back off
// to a longer cap, and the line says the server is at fault.
const SERVER_FAILURE_CODES = new Set([1009, 1011]);
const BACKOFF_SERVER_MAX_MS = 60000;
// The backoff starts over only once a socket has stayed up this long after its welcome. A
// socket closed right after each welcome (by an op the server fails on, such as re-joining
// a room) otherwise reset it every time, and the client reconnected about once a second
// forever.
const STABLE_MS = 30000;

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
    this.stableTimer = null;
    this.heartbeat = null;
    this.closeExpected = false; // the next 4401 is ours (a password change): reconnect
  }

  /** The server is about to close this socket with 4401 although the session stays valid
   * (this tab changed the password): reconnect then rather than end the session. */
  expectClose(on) {
    this.closeExpected = on;
  }

  start() {
    this.stopped = false;
    this.attempt = 0;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.stableTimer);
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
      clearTimeout(this.stableTimer);
      this.stableTimer = setTimeout(() => {
        this.attempt = 0;
      }, STABLE_MS);
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
    clearTimeout(this.stableTimer);
    this.ws = null;
    const wasWelcomed = this.welcomed;
    this.welcomed = false;
    this.failWaiting();
    this.hooks.onDown();
    if (this.stopped) return;
    let code = ev.code;
    if (code === 4401 && this.closeExpected) {
      this.closeExpected = false;
      code = 1000; // asked for: reconnect (a refused handshake is still asked about below)
    }
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
    const serverFailure = SERVER_FAILURE_CODES.has(code);
    const cap = serverFailure ? BACKOFF_SERVER_MAX_MS : BACKOFF_MAX_MS;
    const ceiling = Math.min(cap, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2); // jitter: no herd
    this.attempt += 1;
    const s = Math.ceil(delay / 1000);
    this.hooks.onStatus(serverFailure ? "conn.server_error" : "conn.retry", serverFailure ? { s, code } : { s });
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) this.open();
    }, delay);
  }
}
