"""The web client in real headless Chromium against a real daphne (Playwright, sync API).

Each test opens pages on exactly the origin the server allows (http://127.0.0.1:<port>),
logs in through the form and waits on what a user would see (Playwright's expect), never
on sleeps.

The browser lives in one dedicated thread for the module (``browser``, from
tests/frontend/conftest.py; why a thread: tests/support/browser.py): a test creates its
users with the ORM in the main thread, then hands its browser steps to that thread
(``browser.run``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from crypto.pseudonyms import pseudonym_handle, pseudonym_id
from tests.support.browser import LOUNGE, close_pages, join_room, login, new_page, send_message

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path("/tmp/web-pt/chat.png")
# Generous bound for one visible change (a socket round trip through daphne and the database).
expect.set_options(timeout=15_000)

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


def _bodies(page: Page) -> list[str]:
    return page.locator("#messages .msg .body").all_text_contents()


def test_two_doctors_chat_in_the_cardiology_lounge(browser, daphne_server, make_physician):
    physician_a, email_a, password = make_physician()
    _, email_b, _ = make_physician()
    # What B must see as A's name: A's pseudonym handle in this room (same keyring as daphne).
    handle = pseudonym_handle(pseudonym_id(user_id=str(physician_a.pk), room_id=LOUNGE))

    def steps(chromium: Browser) -> None:
        a, b = new_page(chromium), new_page(chromium)
        login(a, daphne_server, email_a, password)
        login(b, daphne_server, email_b, password)
        expect(a.locator("#who-verified")).to_be_visible()
        expect(a.locator("#who-name")).not_to_be_empty()
        join_room(a)
        join_room(b)
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
        send_message(b, "Agree, with a 2-week follow-up.")
        answer = a.locator("#messages .msg", has_text="2-week follow-up")
        expect(answer.locator(".reply-ref")).to_contain_text(f"In reply to {handle}")
        # A message without images holds only its parts: no stray text (it once said "null").
        strays = answer.evaluate("""m => [...m.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE)
                                                         .map((n) => n.textContent)""")
        assert strays == []

        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        a.screenshot(path=str(SCREENSHOT))
        assert a.dialogs == [] and b.dialogs == []
        close_pages(a, b)

    browser.run(steps)


def test_spanish_ui_strings_and_specialty_names(browser, daphne_server, make_physician):
    _, email, password = make_physician(languages=("es",))

    def steps(chromium: Browser) -> None:
        page = new_page(chromium, locale="es-ES")
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
        join_room(page)
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
        close_pages(page)

    browser.run(steps)


def test_message_markup_is_shown_as_text(browser, daphne_server, make_physician):
    _, email_a, password = make_physician()
    _, email_b, _ = make_physician()

    def steps(chromium: Browser) -> None:
        a, b = new_page(chromium), new_page(chromium)
        response = a.goto(daphne_server.http + "/")
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "connect-src 'self' ws: wss:" in csp and "img-src 'self' data: blob:" in csp
        login(a, daphne_server, email_a, password)
        login(b, daphne_server, email_b, password)
        join_room(a)
        join_room(b)
        payload = "<img src=x onerror=alert(1)><script>alert(2)</script>"
        send_message(a, payload)
        for page in (a, b):
            body = page.locator("#messages .msg .body", has_text="onerror")
            expect(body).to_have_text(payload)
            expect(page.locator("#messages img")).to_have_count(0)
            expect(page.locator("#messages script")).to_have_count(0)
        expect(a.locator("#messages .msg", has_text="onerror")).to_have_attribute("data-state", "delivered")
        assert a.dialogs == [] and b.dialogs == []
        close_pages(a, b)

    browser.run(steps)


def test_dropped_socket_resumes_with_since_and_shows_each_message_once(browser, daphne_server,
                                                                      make_physician):
    _, email_a, password = make_physician()
    _, email_b, _ = make_physician()

    def steps(chromium: Browser) -> None:
        a, b = new_page(chromium), new_page(chromium, hooks=True)
        login(a, daphne_server, email_a, password)
        login(b, daphne_server, email_b, password)
        join_room(a)
        join_room(b)
        send_message(a, "before the drop")
        expect(b.locator("#messages .msg", has_text="before the drop")).to_have_count(1)
        last_seen = int(b.locator("#messages .msg", has_text="before the drop").get_attribute("data-seq"))

        # Drop B's socket and keep it offline (new sockets go to a dead port) while A sends.
        b.evaluate("window.__blockSockets = true; window.__sockets.at(-1).close(4000)")
        expect(b.locator("#conn-status")).to_have_attribute("data-state", "conn.retry")
        sent = [f"missed message {i}" for i in range(1, 4)]
        for body in sent:
            send_message(a, body)
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
        close_pages(a, b)

    browser.run(steps)


def test_a_lost_event_is_fetched_when_the_next_one_shows_the_gap(browser, daphne_server,
                                                                 make_physician):
    _, email_a, password = make_physician()
    _, email_b, _ = make_physician()

    def steps(chromium: Browser) -> None:
        a, b = new_page(chromium), new_page(chromium, hooks=True)
        login(a, daphne_server, email_a, password)
        login(b, daphne_server, email_b, password)
        join_room(a)
        join_room(b)
        send_message(a, "gap one")
        first = b.locator("#messages .msg", has_text="gap one")
        expect(first).to_have_count(1)
        seq = int(first.get_attribute("data-seq"))
        # The socket stays up, but the event of the next message never reaches the client.
        b.evaluate(f"window.__dropSeqs = [{seq + 1}]")
        send_message(a, "gap two (lost on the wire)")
        expect(a.locator("#messages .msg", has_text="gap two")).to_have_attribute("data-state", "delivered")
        send_message(a, "gap three")
        expect(b.locator("#messages .msg", has_text=re.compile("gap (one|two|three)"))).to_have_count(3)
        assert [x for x in _bodies(b) if x.startswith("gap")] == [
            "gap one", "gap two (lost on the wire)", "gap three"]
        assert len(b.sockets) == 1  # no reconnect was needed: the gap was filled by a re-join
        close_pages(a, b)

    browser.run(steps)


# Records every change of the connection line (key and text). A MutationObserver runs as a
# microtask, so the log fills while the page's clock (Playwright's) stands still.
STATUS_RECORDER = """() => {
  window.__status = [];
  const line = document.getElementById("conn-status");
  new MutationObserver(() => window.__status.push([line.dataset.state, line.textContent]))
    .observe(line, {childList: true, characterData: true, subtree: true, attributes: true});
}"""


def _server_failures(page: Page, count: int) -> list[str]:
    """The first ``count`` texts of the line after a server-side close, once there are as many
    (a deadline on what the page shows, not a sleep)."""
    page.wait_for_function(
        "n => window.__status.filter(([k]) => k === 'conn.server_error').length >= n",
        arg=count, timeout=15_000)
    return [text for key, text in page.evaluate("window.__status") if key == "conn.server_error"][:count]


def test_a_socket_the_server_keeps_closing_backs_off_and_says_so(browser, daphne_server,
                                                                 make_physician):
    """A server that closes every socket with 1011 right after its re-join (what a room of long
    messages did) used to get a reconnect about once a second forever: the welcome reset the
    backoff. Now each failure doubles the wait (with jitter, to a cap) and the line says the
    server failed. The page's clock is Playwright's: each wait is run exactly, and a reconnect
    early is caught by counting sockets over a controlled stretch of page time."""
    _, email, password = make_physician()
    routes: list = []
    fail_joins = [False]

    def route(ws) -> None:
        server = ws.connect_to_server()
        routes.append(ws)

        def from_page(message) -> None:
            if fail_joins[0] and '"op":"room.join"' in str(message):
                ws.close(code=1011, reason="Internal Error")  # as daphne closed it
                server.close()
            else:
                server.send(message)

        ws.on_message(from_page)

    def steps(chromium: Browser) -> None:
        page = new_page(chromium)
        page.clock.install()
        page.route_web_socket(re.compile(r"/ws/v1/"), route)
        login(page, daphne_server, email, password)
        join_room(page)
        page.evaluate(STATUS_RECORDER)
        page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 1)
        fail_joins[0] = True
        routes[-1].close(code=1011, reason="Internal Error")  # the first failure
        waits = []
        for attempt in range(8):
            text = _server_failures(page, attempt + 1)[-1]
            assert "1011" in text, text
            wait_s = int(re.search(r"in (\d+) s", text).group(1))
            ceiling_ms = min(60_000, 500 * 2 ** attempt)
            # Equal jitter: the delay is in [ceiling / 2, ceiling].
            assert -(-ceiling_ms // 2000) <= wait_s <= -(-ceiling_ms // 1000), (attempt, waits, wait_s)
            waits.append(wait_s)
            sockets = len(routes)
            # Just short of the earliest the retry may fire: no new socket.
            page.clock.run_for(max(ceiling_ms // 2 - 1000, 0))
            page.evaluate("0")  # a round trip: a socket opened meanwhile would be routed by now
            assert len(routes) == sockets, (attempt, waits)
            if attempt == 7:
                # Spanish, like the rest of the line; then the server recovers.
                page.click('.lang-btn[data-lang="es"]')
                expect(page.locator("#conn-status")).to_contain_text(
                    f"El servidor cerró la conexión (error 1011). Reintentando en {wait_s} s")
                fail_joins[0] = False
            page.clock.run_for(wait_s * 1000 - max(ceiling_ms // 2 - 1000, 0))
        assert waits[0] == 1 and waits[-1] >= 30, waits  # 0.25–0.5 s at first, 30–60 s by the 8th
        # The next attempt connects and re-joins, and the line says so.
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
        expect(page.locator("#room-members")).to_have_text(re.compile(r"\d+"))
        assert len(routes) == 9  # the first socket and one per failure: no tight loop
        close_pages(page)

    browser.run(steps)


def test_wrong_password_shows_an_error_and_opens_no_socket(browser, daphne_server, make_physician):
    _, email, _ = make_physician()

    def steps(chromium: Browser) -> None:
        page = new_page(chromium)
        page.goto(daphne_server.http + "/")
        page.fill("#login-email", email)
        page.fill("#login-password", "not-the-password")
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_have_text("E-mail or password is wrong.")
        expect(page.locator("#chat-view")).to_be_hidden()
        expect(page.locator("#login-submit")).to_be_enabled()
        assert page.sockets == []
        close_pages(page)

    browser.run(steps)


def test_logout_elsewhere_closes_the_socket_and_returns_to_login(browser, daphne_server,
                                                                 make_physician):
    _, email, password = make_physician()

    def steps(chromium: Browser) -> None:
        page = new_page(chromium)
        login(page, daphne_server, email, password)
        # The same browser session logs out from another tab: the server closes its sockets (4401).
        # Like any same-site page of ours: it sends the CSRF token the page's cookie holds.
        token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
        response = page.context.request.post(daphne_server.http + "/api/v1/auth/logout",
                                             headers={"X-CSRFToken": token})
        assert response.ok
        expect(page.locator("#login-view")).to_be_visible()
        expect(page.locator("#login-error")).to_have_text("Your session has ended. Please sign in again.")
        expect(page.locator("#chat-view")).to_be_hidden()
        close_pages(page)

    browser.run(steps)


def test_the_phi_guard_shows_the_flagged_span_and_sends_only_when_confirmed(
        browser, daphne_server, make_physician):
    _, email_a, password = make_physician()
    _, email_b, _ = make_physician(languages=("es",))
    phone = "(555) 123-4567"
    body = f"Her daughter asks for a call on {phone} after the echo."
    spanish = "Llamar a la familia al 612 345 678 tras el ecocardiograma."

    def steps(chromium: Browser) -> None:
        a, b = new_page(chromium), new_page(chromium, locale="es-ES")
        login(a, daphne_server, email_a, password)
        login(b, daphne_server, email_b, password)
        join_room(a)
        join_room(b)

        send_message(a, body)
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
        send_message(b, spanish)
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
        close_pages(a, b)

    browser.run(steps)
