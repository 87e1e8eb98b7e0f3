"""Headless Chromium for the browser tests (Playwright, sync API), and the steps every
browser test takes: open a page, log in, join a room, send, close.

Playwright's sync API marks its event loop as running in the thread that drives it, which
makes Django's ORM (and pytest-asyncio's fixtures) refuse to run there. So the browser lives
in one dedicated thread (``BrowserThread``): a test creates its users with the ORM in the
main thread, then hands its browser steps to that thread (``browser.run``). The helpers
below run inside such a step.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOUNGE = "lounge-cardiology"

# Test hooks injected before the page's own scripts (init scripts are not subject to CSP):
# remember every socket, optionally point new ones at a dead port (to keep a client offline),
# and optionally swallow one incoming message.new by seq (to lose an event on the wire).
SOCKET_HOOKS = """
window.__sockets = [];
window.__blockSockets = false;
window.__dropSeqs = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(url, protocols) {
    super(window.__blockSockets ? "ws://127.0.0.1:9/" : url, protocols);
    window.__sockets.push(this);
  }
  addEventListener(type, listener, options) {
    if (type !== "message") return super.addEventListener(type, listener, options);
    return super.addEventListener(type, (ev) => {
      try {
        const frame = JSON.parse(ev.data);
        if (frame.type === "message.new" && window.__dropSeqs.includes(frame.seq)) return;
      } catch (e) { /* not JSON: let the client decide */ }
      listener(ev);
    }, options);
  }
};
"""


class BrowserThread:
    """One headless Chromium driven from one thread; ``run`` executes a step there."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")
        self._pool.submit(self._start).result()

    def _start(self) -> None:
        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

    def run(self, step: Callable[[Browser], Any]) -> Any:
        return self._pool.submit(step, self.browser).result()

    def close(self) -> None:
        def stop(browser: Browser) -> None:
            browser.close()
            self._playwright.stop()

        self.run(stop)
        self._pool.shutdown()


def start_browser() -> BrowserThread:
    """A running Chromium thread; fails (never skips) when Chromium is not installed."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install it with `apt-get install -y chromium` "
                    "(the browser tests need a real browser and never skip).", pytrace=False)
    return BrowserThread()


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def new_page(browser: Browser, *, locale: str = "en-US", hooks: bool = False,
             viewport: dict | None = None, **context_args: Any) -> Page:
    """A page in a fresh context (its own cookies) that records dialogs and socket URLs;
    ``hooks`` installs ``SOCKET_HOOKS``; ``viewport`` defaults to 1200×800 (``PHONE``:
    390×844, with touch)."""
    if viewport == PHONE:
        context_args = {"has_touch": True, "is_mobile": True, "device_scale_factor": 2, **context_args}
    context = browser.new_context(locale=locale, viewport=viewport or {"width": 1200, "height": 800},
                                  **context_args)
    page = context.new_page()
    page.dialogs = []
    page.sockets = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.on("websocket", lambda ws: page.sockets.append(ws.url))
    if hooks:
        page.add_init_script(SOCKET_HOOKS)
    return page


def login(page: Page, server, email: str, password: str) -> None:
    """Log in through the form and wait until the socket is online."""
    page.goto(server.http + "/")
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.click("#login-submit")
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "conn.online")


def login_staff(page: Page, server, email: str, password: str, code: str) -> None:
    """Log a staff account (verifier, moderator, admin: two-factor sign-in) in through the form,
    the one-time ``code`` at the second step, and wait until the socket is online."""
    page.goto(server.http + "/")
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.fill("#login-otp", code)
    page.click("#login-submit")
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "conn.online")


def from_sidebar(page: Page, selector: str) -> None:
    """Click a sidebar entry as a user would: on a phone the sidebar is a drawer, opened first
    with its button (picking a room or a screen closes it again)."""
    toggle = page.locator("#drawer-toggle")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    page.click(selector)


def join_room(page: Page, room: str = LOUNGE) -> None:
    from_sidebar(page, f'#lounges-mine [data-room="{room}"]')
    # The member count comes from the room.join reply: the room is joined.
    expect(page.locator("#room-members")).to_have_text(re.compile(r"\d+"))


def open_case(page: Page, question: str) -> None:
    """Open a case from the feed by its question, as a user would; wait for its case page."""
    from_sidebar(page, "#nav-feed")
    card = page.locator("#feed-list .feed-item", has_text=question)
    expect(card).to_have_count(1)
    card.locator(".feed-open").click()
    expect(page.locator("#case-detail .case-question")).to_have_text(question)


def send_message(page: Page, body: str) -> None:
    page.locator("#composer-input").fill(body)
    page.locator("#composer-input").press("Enter")


def close_pages(*pages: Page) -> None:
    for page in pages:
        page.context.close()


# For each selector: its box, whether it lies inside the viewport, and what the browser would
# hit at its centre (a click or tap there reaches it only when that is the control itself or
# one of its children).
_LAYOUT_PROBE = """(selectors) => {
  const out = {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
               innerHeight: window.innerHeight, controls: {}};
  for (const sel of selectors) {
    const node = document.querySelector(sel);
    if (!node) { out.controls[sel] = {missing: true}; continue; }
    node.scrollIntoView({block: "nearest", inline: "nearest"});
    const r = node.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    out.controls[sel] = {
      left: r.left, right: r.right, top: r.top, bottom: r.bottom,
      inside: r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0
              && r.right <= window.innerWidth + 0.5 && r.bottom <= window.innerHeight + 0.5,
      reachable: Boolean(hit) && (hit === node || node.contains(hit)
                                  || (node.labels && [...node.labels].some((l) => l.contains(hit)))),
      hit: hit ? (hit.id ? "#" + hit.id : hit.tagName.toLowerCase() + "." + hit.className) : null,
    };
  }
  return out;
}"""


def assert_fits(page: Page, *selectors: str) -> None:
    """Nothing overflows the viewport sideways, and every control named is on screen and not
    covered by anything else (what a user could not tap, this reports)."""
    probe = page.evaluate(_LAYOUT_PROBE, list(selectors))
    assert probe["scrollWidth"] <= probe["innerWidth"], (
        f"the page is {probe['scrollWidth']} px wide in a {probe['innerWidth']} px viewport")
    bad = {sel: c for sel, c in probe["controls"].items() if not (c.get("inside") and c.get("reachable"))}
    assert not bad, f"controls off screen or covered at {probe['innerWidth']}×{probe['innerHeight']}: {bad}"


# For each selector: how wide its text (an input's placeholder when it is empty) is drawn, and
# how wide the box it has for it is.
_TEXT_PROBE = """(selectors) => {
  const canvas = document.createElement("canvas").getContext("2d");
  const out = {};
  for (const sel of selectors) {
    const node = document.querySelector(sel);
    if (!node) { out[sel] = {missing: true}; continue; }
    const style = getComputedStyle(node);
    let need = node.scrollWidth, room = node.clientWidth;
    if ((node.tagName === "INPUT" || node.tagName === "TEXTAREA") && !node.value && node.placeholder) {
      canvas.font = style.font;
      need = Math.ceil(canvas.measureText(node.placeholder).width);
      room = node.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    }
    out[sel] = {need, room, text: node.placeholder || node.textContent.trim().slice(0, 60)};
  }
  return out;
}"""


def assert_text_fits(page: Page, *selectors: str) -> None:
    """The text of each element named (an empty input's placeholder) is drawn whole: not cut
    off at the element's edge."""
    probe = page.evaluate(_TEXT_PROBE, list(selectors))
    bad = {sel: p for sel, p in probe.items() if p.get("missing") or p["need"] > p["room"] + 0.5}
    assert not bad, f"text cut off at {page.viewport_size}: {bad}"


def wait_for(page: Page, expression: str, timeout_s: float = 15.0) -> Any:
    """Wait until the JavaScript ``expression`` is truthy in the page, with a deadline.

    ``page.wait_for_function`` compiles its predicate with eval, which the client's CSP
    (script-src 'self') refuses; ``page.evaluate`` goes through the DevTools protocol instead."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s} s: {expression}")
        page.wait_for_timeout(50)


# Records every Notification the page constructs (and whether it was closed) and every
# oscillator it starts (each tone of the ring); init scripts run before the page's own.
ALERT_HOOKS = """
window.__notes = [];
window.__beeps = 0;
window.__asked = 0;
const NativeNotification = window.Notification;
window.Notification = class extends NativeNotification {
  constructor(title, options) {
    const note = {title, body: options && options.body, closed: false};
    window.__notes.push(note);
    super(title, options);
    this.__note = note;
  }
  close() { this.__note.closed = true; return super.close(); }
  // A test may set window.__permission: headless Chromium answers "denied" where a fresh
  // browser profile says "default" (never asked).
  static get permission() { return window.__permission || NativeNotification.permission; }
  static requestPermission(...args) {
    window.__asked += 1;
    if (window.__permission) return Promise.resolve(window.__permission = "granted");
    return NativeNotification.requestPermission(...args);
  }
};
const nativeStart = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.__beeps += 1;
  return nativeStart.apply(this, args);
};
"""
