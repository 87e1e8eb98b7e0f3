"""Every string of the web client exists in English and in Spanish, and every key the client
uses exists. Read from the sources (no browser needed): the two dictionaries of i18n.js, the
template's data-i18n* attributes and the literal keys passed to t() / has() in the modules.
Keys built at run time (`case.step.${step}`) are checked through their known values below."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "frontend"
STATIC = ROOT / "static" / "frontend"
TEMPLATE = ROOT / "templates" / "frontend" / "index.html"
ENTRY = re.compile(r'^\s{4}"([^"]+)":\s', re.M)

# The families of keys the client builds at run time, with every value they take.
DYNAMIC = {
    "case.step.{}": ["declined", "expired", "escalated", "lounge_called", "waiting", "accepted", "withdrawn"],
    "case.urgency.{}": ["urgent", "routine"],
    "langname.{}": ["en", "es", "fr", "pt", "de", "it"],
    "offer.closed.{}": ["claimed", "expired", "withdrawn"],
    "home.cases.{}": ["open", "claimed", "resolved", "withdrawn"],
    "mod.done.{}": ["mod.hide", "mod.unhide", "mod.mute", "mod.kick", "mod.ban"],
    "mod.minutes.{}": ["15", "60", "1440"],
    "mod.phi.op.{}": ["message.send", "message.edit", "report", "mod.hide", "mod.ban",
                      "report.resolve", "case.post", "case.resolve", "attachment.upload",
                      "licence.decide", "adverse.report"],
    "pending.title.{}": ["pending", "rejected", "suspended"],
    "pending.text.{}": ["pending", "rejected", "suspended"],
    "pending.next.{}": ["pending", "rejected", "suspended"],
    "licence.{}": ["pending", "verified", "rejected", "suspended"],
    "verify.registry.{}": ["verified", "rejected", "review"],
    "inbox.kind.{}": ["mention", "reply", "answer", "case_state", "offer_missed", "poll_closed"],
    "mute.for.{}": ["3600", "28800", "86400", "forever"],
    "profile.err.{}": ["languages_empty", "language_unsupported", "specialty_unknown",
                       "specialties_too_many", "schedule_invalid", "time_zone_unknown",
                       "password_wrong", "password_same", "password_weak"],
    "signup.field.{}": ["first_name", "last_name", "email", "password", "country", "jurisdiction",
                        "licence_number", "specialty", "languages", "display_name"],
}


def _dictionaries() -> dict[str, set[str]]:
    source = (STATIC / "i18n.js").read_text()
    start_es = source.index("\n  es: {")
    end = source.index("\n};", start_es)
    return {"en": set(ENTRY.findall(source[:start_es])), "es": set(ENTRY.findall(source[start_es:end]))}


def _used() -> set[str]:
    keys = set(re.findall(r'data-i18n(?:-placeholder|-aria-label)?="([^"]+)"', TEMPLATE.read_text()))
    keys |= set(re.findall(r'data-empty-key="([^"]+)"', TEMPLATE.read_text()))
    for module in STATIC.glob("*.js"):
        text = module.read_text()
        keys |= set(re.findall(r'\b(?:t|has)\(\s*"([^"]+)"', text))
        # t(n === 1 ? "room.members.one" : "room.members.other", …) and the like
        for a, b in re.findall(r'\?\s*"([a-z]+\.[a-zA-Z.]+)"\s*:\s*"([a-z]+\.[a-zA-Z.]+)"', text):
            keys |= {a, b}
    for pattern, values in DYNAMIC.items():
        keys |= {pattern.format(v) for v in values}
    return keys


def test_english_and_spanish_hold_the_same_keys():
    strings = _dictionaries()
    assert len(strings["en"]) > 150
    assert sorted(strings["en"] - strings["es"]) == [], "keys missing in Spanish"
    assert sorted(strings["es"] - strings["en"]) == [], "keys missing in English"


def test_every_key_the_client_uses_exists():
    strings = _dictionaries()
    used = _used()
    assert {"home.title", "alerts.sound", "offer.acceptedElsewhere"} <= used
    assert sorted(used - strings["en"]) == [], "keys used but missing in English"
    assert sorted(used - strings["es"]) == [], "keys used but missing in Spanish"
