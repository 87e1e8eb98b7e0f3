"""The web client in real headless Chromium against a real daphne (Playwright, sync API).

Each test opens pages on exactly the origin the server allows (http://127.0.0.1:<port>),
logs in through the form and waits on what a user would see (Playwright's expect), never
on sleeps.

Playwright's sync API marks its event loop as running in the thread that drives it, which
makes Django's ORM (and pytest-asyncio's fixtures) refuse to run there. So the browser lives
in one dedicated thread for the module: a test creates its users with the ORM in the main
thread, then hands its browser steps to that thread (``browser.run``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from crypto.pseudonyms import pseudonym_handle, pseudonym_id

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOUNGE = "lounge-cardiology"
SCREENSHOT = Path("/tmp/web-pt/chat.png")
# Generous bound for one visible change (a socket round trip through daphne and the database).
expect.set_options(timeout=15_000)

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

# Records the successive data-state values of the bubbles this page sends.
STATE_RECORDER = """() => {
  window.__states = [];
  new MutationObserver((records) => {
    for (const r of records) {
      const nodes = r.type === "attributes" ? [r.target] : [...r.addedNodes];
      for (const n of nodes) {
        if (n.nodeType !== 1 || !n.dataset.clientId || !n.dataset.state) continue;
        if (window.__states.at(-1) !== n.dataset.state) window.__states.push(n.dataset.state);
      }
    }
  }).observe(document.getElementById("messages"),
             {subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"]});
}"""


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


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install it with `apt-get install -y chromium` "
                    "(the browser tests need a real browser and never skip).", pytrace=False)
    thread = BrowserThread()
    yield thread
    thread.close()


def _page(browser: Browser, *, locale: str = "en-US", hooks: bool = False) -> Page:
    context = browser.new_context(locale=locale, viewport={"width": 1200, "height": 800})
    page = context.new_page()
    page.dialogs = []
    page.sockets = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.on("websocket", lambda ws: page.sockets.append(ws.url))
    if hooks:
        page.add_init_script(SOCKET_HOOKS)
    return page


def _login(page: Page, server, email: str, password: str) -> None:
    page.goto(server.http + "/")
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.click("#login-submit")
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "conn.online")


def _join(page: Page, room: str = LOUNGE) -> None:
    page.click(f'#lounges-mine [data-room="{room}"]')
    # The member count comes from the room.join reply: the room is joined.
    expect(page.locator("#room-members")).to_have_text(re.compile(r"\d+"))


def _send(page: Page, body: str) -> None:
    page.locator("#composer-input").fill(body)
    page.locator("#composer-input").press("Enter")


def _bodies(page: Page) -> list[str]:
    return page.locator("#messages .msg .body").all_text_contents()


def _close(*pages: Page) -> None:
    for page in pages:
        page.context.close()


def test_two_doctors_chat_in_the_cardiology_lounge(browser, daphne_server, make_physician):
    physician_a, email_a, password = make_physician()
    _, email_b, _ = make_physician()
    # What B must see as A's name: A's pseudonym handle in this room (same keyring as daphne).
    handle = pseudonym_handle(pseudonym_id(user_id=str(physician_a.pk), room_id=LOUNGE))

    def steps(chromium: Browser) -> None:
        a, b = _page(chromium), _page(chromium)
        _login(a, daphne_server, email_a, password)
        _login(b, daphne_server, email_b, password)
        expect(a.locator("#who-verified")).to_be_visible()
        expect(a.locator("#who-name")).not_to_be_empty()
        _join(a)
        _join(b)
        expect(a.locator("#room-title")).to_have_text("Cardiology")
        a.evaluate(STATE_RECORDER)

        a.locator("#composer-input").press_sequentially("Troponin")
        expect(b.locator("#typing")).to_contain_text("is typing")
        a.locator("#composer-input").fill("Troponin flat at 3 h, ECG normal: discharge?")
        a.locator("#composer-input").press("Enter")

        seen = b.locator("#messages .msg", has_text="Troponin flat at 3 h")
        expect(seen).to_have_count(1)
        expect(seen.locator(".author")).to_have_text(handle)
        expect(seen.locator(".badge.verified")).to_have_text("verified")
        expect(seen.locator(".specialty")).to_have_text("Cardiology")
        expect(seen).not_to_have_attribute("data-state", re.compile(".*"))  # not B's own message
        expect(b.locator("#typing")).to_have_text("")  # the author's message ends their typing

        mine = a.locator("#messages .msg", has_text="Troponin flat at 3 h")
        expect(mine).to_have_count(1)
        expect(mine).to_have_attribute("data-state", "delivered")
        expect(mine.locator(".state")).to_have_text("✓ Delivered")
        assert a.evaluate("window.__states") == ["pending", "delivered"]
        assert mine.get_attribute("data-seq") == seen.get_attribute("data-seq")

        # B answers A's message; both see the reply reference.
        seen.locator(".reply-btn").click()
        expect(b.locator("#reply-text")).to_have_text(f"Replying to {handle}")
        _send(b, "Agree, with a 2-week follow-up.")
        answer = a.locator("#messages .msg", has_text="2-week follow-up")
        expect(answer.locator(".reply-ref")).to_contain_text(f"In reply to {handle}")

        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        a.screenshot(path=str(SCREENSHOT))
        assert a.dialogs == [] and b.dialogs == []
        _close(a, b)

    browser.run(steps)


def test_spanish_ui_strings_and_specialty_names(browser, daphne_server, make_physician):
    _, email, password = make_physician(languages=("es",))

    def steps(chromium: Browser) -> None:
        page = _page(chromium, locale="es-ES")
        page.goto(daphne_server.http + "/")
        # The browser's language picks Spanish before anyone logs in.
        expect(page.locator("#login-title")).to_have_text("Iniciar sesión en Curbside")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        page.fill("#login-email", email)
        page.fill("#login-password", password)
        page.click("#login-submit")
        expect(page.locator("#conn-status")).to_have_text("Conectado")
        expect(page.locator(f'#lounges-mine [data-room="{LOUNGE}"]')).to_have_text("Cardiología")
        expect(page.locator('#lounges-mine [data-room="lounge-general"]')).to_have_text("Sala de médicos")
        _join(page)
        expect(page.locator("#room-title")).to_have_text("Cardiología")
        expect(page.locator("#composer button[type=submit]")).to_have_text("Enviar")
        expect(page.locator("#who-verified")).to_have_text("verificado")

        # Accent-insensitive search over the Spanish names.
        page.fill("#specialty-search", "cardiologia ped")
        expect(page.locator("#lounges-all li")).to_have_text(["Cardiología pediátrica"])

        # The toggle switches every string and the specialty names, both ways.
        page.click('.lang-btn[data-lang="en"]')
        expect(page.locator("#room-title")).to_have_text("Cardiology")
        expect(page.locator("#composer button[type=submit]")).to_have_text("Send")
        expect(page.locator("#lounges-title")).to_have_text("Lounges")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.click('.lang-btn[data-lang="es"]')
        expect(page.locator("#room-title")).to_have_text("Cardiología")
        expect(page.locator("#lounges-title")).to_have_text("Salas")
        _close(page)

    browser.run(steps)


def test_message_markup_is_shown_as_text(browser, daphne_server, make_physician):
    _, email_a, password = make_physician()
    _, email_b, _ = make_physician()

    def steps(chromium: Browser) -> None:
        a, b = _page(chromium), _page(chromium)
        response = a.goto(daphne_server.http + "/")
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "connect-src 'self' ws: wss:" in csp and "img-src 'self' data: blob:" in csp
        _login(a, daphne_server, email_a, password)
        _login(b, daphne_server, email_b, password)
        _join(a)
        _join(b)
        payload = "<img src=x onerror=alert(1)><script>alert(2)</script>"
        _send(a, payload)
        for page in (a, b):
            body = page.locator("#messages .msg .body", has_text="onerror")
            expect(body).to_have_text(payload)
            expect(page.locator("#messages img")).to_have_count(0)
            expect(page.locator("#messages script")).to_have_count(0)
        expect(a.locator("#messages .msg", has_text="onerror")).to_have_attribute("data-state", "delivered")
        assert a.dialogs == [] and b.dialogs == []
        _close(a, b)

    browser.run(steps)


def test_dropped_socket_resumes_with_since_and_shows_each_message_once(browser, daphne_server,
                                                                      make_physician):
    _, email_a, password = make_physician()
    _, email_b, _ = make_physician()

    def steps(chromium: Browser) -> None:
        a, b = _page(chromium), _page(chromium, hooks=True)
        _login(a, daphne_server, email_a, password)
        _login(b, daphne_server, email_b, password)
        _join(a)
        _join(b)
        _send(a, "before the drop")
        expect(b.locator("#messages .msg", has_text="before the drop")).to_have_count(1)
        last_seen = int(b.locator("#messages .msg", has_text="before the drop").get_attribute("data-seq"))

        # Drop B's socket and keep it offline (new sockets go to a dead port) while A sends.
        b.evaluate("window.__blockSockets = true; window.__sockets.at(-1).close(4000)")
        expect(b.locator("#conn-status")).to_have_attribute("data-state", "conn.retry")
        sent = [f"missed message {i}" for i in range(1, 4)]
        for body in sent:
            _send(a, body)
            expect(a.locator("#messages .msg", has_text=body)).to_have_attribute("data-state", "delivered")
        assert not [x for x in _bodies(b) if x.startswith("missed")]

        frames: list[str] = []
        b.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(str(payload))))
        b.evaluate("window.__blockSockets = false")
        expect(b.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
        expect(b.locator("#messages .msg", has_text="missed message")).to_have_count(3)
        assert [x for x in _bodies(b) if x.startswith("missed")] == sent
        assert _bodies(b).count("before the drop") == 1
        seqs = [int(s) for s in b.locator("#messages .msg").evaluate_all("ns => ns.map(n => n.dataset.seq)")]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
        assert any('"op":"room.join"' in f and f'"since":{last_seen}' in f for f in frames), frames
        _close(a, b)

    browser.run(steps)


def test_a_lost_event_is_fetched_when_the_next_one_shows_the_gap(browser, daphne_server,
                                                                 make_physician):
    _, email_a, password = make_physician()
    _, email_b, _ = make_physician()

    def steps(chromium: Browser) -> None:
        a, b = _page(chromium), _page(chromium, hooks=True)
        _login(a, daphne_server, email_a, password)
        _login(b, daphne_server, email_b, password)
        _join(a)
        _join(b)
        _send(a, "gap one")
        first = b.locator("#messages .msg", has_text="gap one")
        expect(first).to_have_count(1)
        seq = int(first.get_attribute("data-seq"))
        # The socket stays up, but the event of the next message never reaches the client.
        b.evaluate(f"window.__dropSeqs = [{seq + 1}]")
        _send(a, "gap two (lost on the wire)")
        expect(a.locator("#messages .msg", has_text="gap two")).to_have_attribute("data-state", "delivered")
        _send(a, "gap three")
        expect(b.locator("#messages .msg", has_text=re.compile("gap (one|two|three)"))).to_have_count(3)
        assert [x for x in _bodies(b) if x.startswith("gap")] == [
            "gap one", "gap two (lost on the wire)", "gap three"]
        assert len(b.sockets) == 1  # no reconnect was needed: the gap was filled by a re-join
        _close(a, b)

    browser.run(steps)


def test_wrong_password_shows_an_error_and_opens_no_socket(browser, daphne_server, make_physician):
    _, email, _ = make_physician()

    def steps(chromium: Browser) -> None:
        page = _page(chromium)
        page.goto(daphne_server.http + "/")
        page.fill("#login-email", email)
        page.fill("#login-password", "not-the-password")
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_have_text("E-mail or password is wrong.")
        expect(page.locator("#chat-view")).to_be_hidden()
        expect(page.locator("#login-submit")).to_be_enabled()
        assert page.sockets == []
        _close(page)

    browser.run(steps)


def test_logout_elsewhere_closes_the_socket_and_returns_to_login(browser, daphne_server,
                                                                 make_physician):
    _, email, password = make_physician()

    def steps(chromium: Browser) -> None:
        page = _page(chromium)
        _login(page, daphne_server, email, password)
        # The same browser session logs out from another tab: the server closes its sockets (4401).
        token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
        response = page.context.request.post(daphne_server.http + "/api/v1/auth/logout",
                                             headers={"X-CSRFToken": token})
        assert response.ok
        expect(page.locator("#login-view")).to_be_visible()
        expect(page.locator("#login-error")).to_have_text("Your session has ended. Please sign in again.")
        expect(page.locator("#chat-view")).to_be_hidden()
        _close(page)

    browser.run(steps)


def test_the_phi_guard_shows_the_flagged_span_and_sends_only_when_confirmed(
        browser, daphne_server, make_physician):
    _, email_a, password = make_physician()
    _, email_b, _ = make_physician(languages=("es",))
    phone = "(555) 123-4567"
    body = f"Her daughter asks for a call on {phone} after the echo."
    spanish = "Llamar a la familia al 612 345 678 tras el ecocardiograma."

    def steps(chromium: Browser) -> None:
        a, b = _page(chromium), _page(chromium, locale="es-ES")
        _login(a, daphne_server, email_a, password)
        _login(b, daphne_server, email_b, password)
        _join(a)
        _join(b)

        _send(a, body)
        warning = a.locator("#phi-warning")
        expect(warning).to_be_visible()
        expect(warning.locator(".phi-title")).to_have_text(
            "This message may contain patient identifiers")
        expect(warning.locator("mark.phi-span")).to_have_text([phone])
        expect(warning.locator(".phi-kinds")).to_contain_text("phone number")
        expect(a.locator("#composer-input")).to_have_value(body)  # given back to fix
        expect(a.locator("#messages .msg", has_text=phone)).to_have_count(0)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        a.screenshot(path=str(SCREENSHOT.with_name("phi-warning.png")))

        # "Edit" goes back to the composer with the flagged span selected.
        a.locator("#phi-edit").click()
        expect(warning).to_be_hidden()
        selected = a.evaluate("() => { const i = document.getElementById('composer-input');"
                              " return i.value.slice(i.selectionStart, i.selectionEnd); }")
        assert selected == phone

        # Sent unchanged: flagged again; "Send anyway" stores it and everyone sees it.
        a.locator("#composer-input").press("Enter")
        expect(warning).to_be_visible()
        warning.get_by_role("button", name="Send anyway (not patient data)").click()
        expect(warning).to_be_hidden()
        mine = a.locator("#messages .msg", has_text=phone)
        expect(mine).to_have_count(1)
        expect(mine).to_have_attribute("data-state", "delivered")
        expect(a.locator("#composer-input")).to_have_value("")
        expect(b.locator("#messages .msg", has_text=phone)).to_have_count(1)

        # The same in Spanish.
        _send(b, spanish)
        aviso = b.locator("#phi-warning")
        expect(aviso.locator(".phi-title")).to_have_text(
            "Este mensaje puede contener datos identificativos de un paciente")
        expect(aviso.locator("mark.phi-span")).to_have_text(["612 345 678"])
        expect(aviso.locator(".phi-kinds")).to_contain_text("número de teléfono")
        expect(aviso.get_by_role("button", name="Editar")).to_be_visible()
        aviso.get_by_role("button", name="Enviar de todos modos (no son datos de un paciente)").click()
        expect(b.locator("#messages .msg", has_text="612 345 678")).to_have_attribute(
            "data-state", "delivered")
        expect(a.locator("#messages .msg", has_text="612 345 678")).to_have_count(1)
        assert a.dialogs == [] and b.dialogs == []
        _close(a, b)

    browser.run(steps)
