"""Fixtures of the adverse event suite: reporters licensed in different countries, the
pharmacovigilance role, a valid report body."""

from __future__ import annotations

import itertools
import os
import secrets

import pytest

from tests.support import fixtures

close_thread_connections = fixtures.close_thread_connections
live_database_url = fixtures.live_database_url
daphne_server = fixtures.daphne_server

_serial = itertools.count(1)


def _licence(country: str) -> str:
    n = next(_serial) * 7919 + os.getpid() % 1000
    digits = f"{secrets.randbelow(10**6):06d}"
    return {
        "GB": f"{(7100000 + n) % 10**7:07d}",
        "ES": f"28{(n * 13 + int(digits)) % 10**7:07d}",
        "MX": f"{(10000000 + n * 17 + int(digits)) % 10**8:08d}",
        "ZA": f"MP{(n * 31 + int(digits)) % 10**7:07d}",
        "IE": f"{(n * 7 + int(digits)) % 999999 + 1}",
    }[country]


@pytest.fixture
def make_reporter(specialties):
    """A verified physician licensed in ``country`` (GB, ES, MX, ZA or IE)."""
    from physicians import services
    from physicians.states import LicenceStatus

    def make(country: str = "GB", *, specialty: str = "internal-medicine",
             verified: bool = True):
        tag = secrets.token_hex(4)
        email = f"reporter.{tag}@example.test"
        physician = services.physician_register(data=services.Registration(
            email=email, password="correct-horse-battery", first_name="Rep", last_name=tag,
            country=country, licence_number=_licence(country), specialty=specialty,
            languages=("en", "es")))
        if verified:
            services.licence_decide(physician=physician, to_status=LicenceStatus.VERIFIED,
                                    by=None, backend="test", reason="fixture")
        return physician, email, "correct-horse-battery"

    return make


@pytest.fixture
def report_body():
    """A valid report body; keyword arguments replace its fields."""
    def body(**changes):
        doc = {
            "suspect_drugs": [{"name": "Lipitor 40 mg", "dose": "40 mg daily", "route": "oral",
                               "start_year": 2025}],
            "concomitant_drugs": [{"name": "metformina", "dose": "850 mg bid"}],
            "reactions": [{"term": "rabdomiólisis", "outcome": "recovering", "onset_days": 30}],
            "seriousness": {"hospitalisation": True},
            "dechallenge": "positive", "rechallenge": "not_applicable",
            "age_band": "elderly", "sex": "male", "country": "ES",
            "narrative": "CK over 10x ULN after dose increase; resolved on stopping.",
        }
        doc.update(changes)
        return doc

    return body
