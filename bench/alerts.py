"""Urgent alerts: post → ``offer.new`` arrival at 500 online, on-call specialists, with chat
load running in a lounge. Curbside only (the tutorial chat has no routing).

    python -m bench.alerts [--specialists 500] [--rounds 5] [--chat-rate 20]
                           [--topologies redis-1,redis-2,embedded] [--out DIR]

Each round posts one urgent neurology case over HTTP and times, at every specialist socket,
the arrival of its offer from the moment the POST was sent; then the poster withdraws the
case so the next round starts clean. Routing is configured to offer all of them at once
(``CURBSIDE_ROUTING_K``), so this is the alert fan-out of a crowd; with the default k=3 the
same pipeline offers three. Prints a table and writes JSON. Bounded: every wait has a
deadline and the servers it started are stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from array import array
from http.cookiejar import CookieJar
from pathlib import Path

import websockets

from bench import report, servers

ROOT = Path(__file__).resolve().parents[1]
SPECIALTY = "neurology"
CHAT_LOUNGE = "lounge-general"
PASSWORD = "bench-alerts-password-1"
ROUND_TIMEOUT_S = 30.0


def _django(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def ensure_users(n: int) -> list[str]:
    """n specialists (plus poster and chatters at the end) — created once, then reused."""
    from crypto import personal
    from physicians import services
    from physicians.models import User
    from physicians.states import LicenceStatus

    emails = []
    for i in range(n):
        email = f"alert{i}@bench.test"
        if not User.objects.filter(email_index=personal.email_index(email)).exists():
            p = services.physician_register(data=services.Registration(
                email=email, password=PASSWORD, first_name=f"Alert{i}", last_name="Neuro",
                country="GB", licence_number=f"{7500000 + i:07d}",
                specialty=SPECIALTY if i < n - 11 else "emergency-medicine"))
            services.licence_decide(physician=p, to_status=LicenceStatus.VERIFIED, by=None,
                                    backend="bench", reason="bench alerts")
        emails.append(email)
    return emails


class Http:
    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def post(self, path: str, body: dict) -> dict:
        csrf = next((c.value for c in self.jar if c.name == "csrftoken"), "")
        req = urllib.request.Request(self.base + path, json.dumps(body).encode(),
                                     {"Content-Type": "application/json", "X-CSRFToken": csrf},
                                     method="POST")
        with self.opener.open(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")


async def _open(port: int, email: str) -> tuple:
    http = Http(f"http://127.0.0.1:{port}")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, http.post, "/api/v1/auth/login",
                               {"email": email, "password": PASSWORD})
    ticket = (await loop.run_in_executor(None, http.post, "/api/v1/auth/ws-ticket", {}))["ticket"]
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/v1/?ticket={ticket}",
                                  max_size=2**22)
    json.loads(await ws.recv())  # session.welcome
    return http, ws


async def _ask(ws, op: str, **args) -> None:
    await ws.send(json.dumps({"op": op, "ref": op, **args}))


async def run(ports: list[int], emails: list[str], rounds: int, chat_rate: float) -> dict:
    specialists, poster_email, chatters = emails[:-11], emails[-11], emails[-10:]
    socks = []
    for i in range(0, len(specialists), 50):  # open in waves of 50
        socks += await asyncio.gather(*(_open(ports[(i + j) % len(ports)], e)
                                        for j, e in enumerate(specialists[i:i + 50])))
    for _, ws in socks:
        await _ask(ws, "presence.set", status="available", on_call=True)
    poster_http, poster_ws = await _open(ports[0], poster_email)
    chat = [await _open(ports[k % len(ports)], e) for k, e in enumerate(chatters)]
    for _, ws in chat:
        await _ask(ws, "room.join", room=CHAT_LOUNGE)

    arrivals: dict[str, list[float]] = {}
    posted_at: dict[str, float] = {}
    stop = asyncio.Event()

    async def read(ws) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "offer.new":
                arrivals.setdefault(frame["data"]["case"]["id"], []).append(time.monotonic())

    async def drain(ws) -> None:
        async for _ in ws:
            pass

    async def chatter(ws, k: int) -> None:
        n = 0
        while not stop.is_set():
            await ws.send(json.dumps({"op": "message.send", "room": CHAT_LOUNGE,
                                      "body": f"chat {k}-{n}", "client_id": f"c{k}-{n}-{time.time()}"}))
            n += 1
            await asyncio.sleep(1.0 / chat_rate)

    readers = [asyncio.ensure_future(read(ws)) for _, ws in socks]
    drains = [asyncio.ensure_future(drain(ws)) for ws in (poster_ws, *(w for _, w in chat))]
    chatters_t = [asyncio.ensure_future(chatter(ws, k)) for k, (_, ws) in enumerate(chat)]
    await asyncio.sleep(1.0)  # let presence settle and chat start
    lat = array("d")
    offered = []
    loop = asyncio.get_running_loop()
    for r in range(rounds):
        t0 = time.monotonic()
        case = await loop.run_in_executor(None, poster_http.post, "/api/v1/cases", {
            "specialty": SPECIALTY, "urgency": "urgent",
            "summary": f"round {r}: acute stroke symptoms, onset 45 min"})
        case_id = case["case"]["id"]
        posted_at[case_id] = t0
        offered.append(case["routing"]["offered"])
        deadline = time.monotonic() + ROUND_TIMEOUT_S
        while len(arrivals.get(case_id, [])) < case["routing"]["offered"]:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        lat.extend(t - t0 for t in arrivals.get(case_id, []))
        await loop.run_in_executor(None, poster_http.post, f"/api/v1/cases/{case_id}/withdraw", {})
        await asyncio.sleep(0.5)
    stop.set()
    for t in (*readers, *drains, *chatters_t):
        t.cancel()
    for _, ws in (*socks, *chat, (None, poster_ws)):
        await ws.close()
    received = sum(len(v) for v in arrivals.values())
    return {"specialists": len(socks), "rounds": rounds, "offered_per_round": offered,
            "alerts_received": received, "alerts_missing": sum(offered) - received,
            "chat_msgs_per_s": round(chat_rate * len(chat)), **report.percentiles(lat)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--specialists", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chat-rate", type=float, default=20.0, help="msgs/s per chatter (10)")
    parser.add_argument("--topologies", default="redis-1,redis-2,embedded")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/curbside_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "alerts"))
    parser.add_argument("--server", default="uvicorn", choices=servers.CURBSIDE_SERVERS,
                        help="the ASGI server (manage.py serve --server; uvicorn is its default)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for topology in args.topologies.split(","):
        state = ROOT / "var" / "bench" / ("pg" if topology != "embedded" else "embedded-alerts")
        state.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CURBSIDE_", "DJANGO_")) and k not in ("DATABASE_URL", "REDIS_URL")}
        env.update({"CURBSIDE_VAR_DIR": str(state), "CURBSIDE_LOG_LEVEL": "WARNING",
                    "DJANGO_DEBUG": "false", "CURBSIDE_ROUTING_K": str(args.specialists),
                    # Every specialist offered at once: no widening steps on top.
                    "CURBSIDE_ROUTING_WIDEN": "",
                    "CURBSIDE_MESSAGES_PER_S": "1000000", "CURBSIDE_MESSAGE_BURST": "1000000",
                    "DJANGO_SETTINGS_MODULE": "settings", "PYTHONUNBUFFERED": "1"})
        if topology != "embedded":
            env.update({"DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url})
            subprocess.run(["redis-cli", "-u", args.redis_url, "flushdb"], check=True,
                           capture_output=True)
        # Users are created by a child so each topology's database gets them.
        subprocess.run([sys.executable, "-c",
                        "import sys; sys.path.insert(0, '.'); from bench import alerts; "
                        f"alerts._django({{}}); alerts.ensure_users({args.specialists + 11})"],
                       cwd=ROOT, env=env, check=True)
        emails = [f"alert{i}@bench.test" for i in range(args.specialists + 11)]
        n = 2 if topology == "redis-2" else 1
        ports = [servers.free_port() for _ in range(n)]
        procs = [servers.curbside(p, env, out / f"{topology}-{p}.log", args.server).start()
                 for p in ports]
        try:
            row = asyncio.run(run(ports, emails, args.rounds, args.chat_rate))
        finally:
            for p in procs:
                p.stop()
        row = {"topology": topology, "server": args.server, **row}
        rows.append(row)
        print(json.dumps(row), flush=True)
    (out / "alerts.json").write_text(json.dumps(rows, indent=2))
    print(report.table(rows, ["topology", "server", "specialists", "rounds", "alerts_received",
                              "alerts_missing", "chat_msgs_per_s", "p50_ms", "p95_ms", "p99_ms",
                              "max_ms"]))


if __name__ == "__main__":
    main()
