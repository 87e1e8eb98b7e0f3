"""Bench fixtures, created once per database and reused: a pool of verified physicians and
500 case rooms of 2–10 members. Runs in its own process against the server's DATABASE_URL
(``python -m bench.fixtures OUT.json``), because argon2 hashing makes users slow to create
(~50–100 ms each) and the bench must not pay that per scenario.

Writes ``{"users": [{"email", "password"}], "case_rooms": [{"id", "members": [user index]}]}``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

PASSWORD = "bench-password-not-secret-42"
SPECIALTY = "cardiology"
USERS = 20
CASE_ROOMS = 500


def case_room_sizes(n: int) -> list[int]:
    """2, 3, …, 10, 2, 3, …: every size in 2–10, mean 6."""
    return [2 + i % 9 for i in range(n)]


def _user(i: int):
    from crypto import personal
    from physicians import services
    from physicians.models import User
    from physicians.states import LicenceStatus

    email = f"bench{i}@bench.test"
    existing = User.objects.filter(email_index=personal.email_index(email)).first()
    if existing is not None:
        return existing, email
    physician = services.physician_register(data=services.Registration(
        email=email, password=PASSWORD, first_name=f"Bench{i}", last_name="Doctor",
        country="GB", licence_number=f"{7100000 + i:07d}", specialty=SPECIALTY))
    services.licence_decide(physician=physician, to_status=LicenceStatus.VERIFIED, by=None,
                            backend="bench", reason="bench fixture")
    return physician.user, email


def ensure(out: Path, *, users: int = USERS, case_rooms: int = CASE_ROOMS) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    django.setup()
    from django.core.management import call_command

    from rooms.models import Room
    from rooms.services import case_room_create

    call_command("migrate", verbosity=0, interactive=False)
    started = time.monotonic()
    pool = [_user(i) for i in range(users)]
    previous = json.loads(out.read_text()) if out.exists() else {}
    rooms = [r for r in previous.get("case_rooms", [])
             if Room.objects.filter(pk=r["id"]).exists()][:case_rooms]
    for size in case_room_sizes(case_rooms)[len(rooms):]:
        start = len(rooms) % users
        members = [(start + j) % users for j in range(min(size, users))]
        room = case_room_create(title=f"bench case {len(rooms)}", specialty_id=None,
                                members=[pool[m][0] for m in members])
        rooms.append({"id": room.id, "members": members})
    data = {"users": [{"email": email, "password": PASSWORD} for _, email in pool],
            "case_rooms": rooms, "setup_s": round(time.monotonic() - started, 1)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data))
    return data


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    target = Path(sys.argv[1])
    n_rooms = int(sys.argv[2]) if len(sys.argv) > 2 else CASE_ROOMS
    n_users = int(sys.argv[3]) if len(sys.argv) > 3 else USERS
    result = ensure(target, users=n_users, case_rooms=n_rooms)
    print(f"{len(result['users'])} users, {len(result['case_rooms'])} case rooms "
          f"({result['setup_s']} s)")
