"""The simulated network: who is in it, where, speaking what, on call when, how they behave.

Every number here is an assumption of the model, stated with its source where there is one
(docs/routing.md lists them). Nothing reads a clock; ``build`` draws from the generator it is
given, so the same seed builds the same network.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from physicians.oncall import Schedule, parse_schedule, parse_timezone

# The nine countries: share of the network's physicians, time zones (weight) and languages
# (weight). Shares follow the size of each country's medical workforce, roughly (OECD Health
# Statistics 2023, practising physicians: US ~1.0 M, MX ~0.3 M, ES ~0.2 M, UK ~0.2 M, ...),
# with the US damped so it does not drown the others.
COUNTRIES: dict[str, tuple[float, tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]] = {
    "US": (0.36, (("America/New_York", 0.47), ("America/Chicago", 0.29),
                  ("America/Denver", 0.07), ("America/Los_Angeles", 0.17)),
           (("en", 0.9), ("es", 0.1))),
    "UK": (0.13, (("Europe/London", 1.0),), (("en", 1.0),)),
    "CA": (0.06, (("America/Toronto", 0.62), ("America/Vancouver", 0.25),
                  ("America/Edmonton", 0.13)), (("en", 0.78), ("fr", 0.22))),
    "AU": (0.07, (("Australia/Sydney", 0.6), ("Australia/Brisbane", 0.25),
                  ("Australia/Perth", 0.15)), (("en", 1.0),)),
    "IE": (0.02, (("Europe/Dublin", 1.0),), (("en", 1.0),)),
    "NZ": (0.015, (("Pacific/Auckland", 1.0),), (("en", 1.0),)),
    "ZA": (0.025, (("Africa/Johannesburg", 1.0),), (("en", 1.0),)),
    "ES": (0.15, (("Europe/Madrid", 1.0),), (("es", 1.0),)),
    "MX": (0.17, (("America/Mexico_City", 1.0),), (("es", 1.0),)),
}

# Workforce by specialty: active physicians in the US, thousands, rounded (AAMC, Physician
# Specialty Data Report 2022, "Active physicians by specialty"); subspecialties the report
# lumps are split by hand. Used as proportions for every country.
WORKFORCE: dict[str, float] = {
    "internal-medicine": 120, "family-medicine": 118, "pediatrics": 60,
    "emergency-medicine": 47, "anesthesiology": 42, "obstetrics-gynecology": 42,
    "psychiatry": 38, "radiology": 28, "surgery": 25, "cardiology": 22,
    "orthopedic-surgery": 19, "ophthalmology": 19, "gastroenterology": 15, "neurology": 14,
    "dermatology": 13, "critical-care": 13, "medical-oncology": 12, "pathology": 12,
    "nephrology": 11, "urology": 10, "child-adolescent-psychiatry": 10,
    "physical-medicine-rehabilitation": 10, "otolaryngology": 9.5, "infectious-disease": 9,
    "endocrinology": 8, "plastic-surgery": 7, "neonatology": 6, "rheumatology": 6,
    "neurosurgery": 5.7, "pulmonology": 5, "radiation-oncology": 5, "geriatrics": 5,
    "allergy-immunology": 4.9, "cardiothoracic-surgery": 4.5, "interventional-cardiology": 4.4,
    "vascular-surgery": 3.6, "hematology": 3, "pediatric-cardiology": 2.9,
    "trauma-surgery": 2.5, "orthopedic-trauma": 1.5, "medical-toxicology": 0.6,
}

# What urgent curbside questions are about (weights). An assumption, shaped by the specialties
# most asked in published e-consult and curbside series (cardiology, infectious disease,
# neurology, GI, nephrology, hematology, psychiatry lead), not measured.
DEMAND: dict[str, float] = {
    "cardiology": 14, "neurology": 9, "infectious-disease": 8, "critical-care": 6,
    "gastroenterology": 6, "psychiatry": 6, "surgery": 6, "nephrology": 5, "hematology": 5,
    "pulmonology": 5, "emergency-medicine": 5, "obstetrics-gynecology": 5, "pediatrics": 4,
    "orthopedic-surgery": 4, "endocrinology": 3, "medical-oncology": 3, "radiology": 3,
    "dermatology": 2, "neurosurgery": 2, "urology": 2, "neonatology": 1, "anesthesiology": 1,
    "ophthalmology": 1, "otolaryngology": 1, "rheumatology": 1, "vascular-surgery": 1,
    "medical-toxicology": 1, "interventional-cardiology": 1,
}

# Share of a physician's hours online and attended, by local hour (weekdays); weekends x0.6.
ONLINE_BY_HOUR = (0.01, 0.01, 0.01, 0.01, 0.01, 0.02, 0.04, 0.08, 0.14, 0.18, 0.18, 0.17,
                  0.15, 0.17, 0.18, 0.17, 0.15, 0.12, 0.10, 0.10, 0.09, 0.07, 0.04, 0.02)
WEEKEND = 0.6


@dataclass(slots=True)
class Doc:
    id: str
    country: str
    tz_name: str
    zone: ZoneInfo
    languages: tuple[str, ...]
    specialties: tuple[str, ...]
    accept_p: float  # answers an offer with accept
    decline_p: float  # answers with decline (else never answers: the offer expires)
    answer_median_s: float  # how long until they answer, median (log-normal)
    activity: float  # multiplies ONLINE_BY_HOUR
    schedule: Schedule = ()
    # run-time
    connected: bool = False
    online_until: float = 0.0
    pinged_at: float = 0.0
    on_call: bool = False
    offers: int = 0
    accepted: int = 0


@dataclass(slots=True)
class Network:
    docs: list[Doc]
    by_id: dict[str, Doc] = field(default_factory=dict)
    by_country: dict[str, list[Doc]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {d.id: d for d in self.docs}
        for d in self.docs:
            self.by_country.setdefault(d.country, []).append(d)


def _pick(rng: random.Random, weighted) -> str:
    names = [n for n, _ in weighted]
    return rng.choices(names, weights=[w for _, w in weighted])[0]


def _rota(rng: random.Random) -> list[list[str]]:
    """One on-call window a week (a weekday night or day), sometimes a weekend day too."""
    day = rng.choice(("mon", "tue", "wed", "thu", "fri"))
    windows = [[day, "18:00", "08:00"] if rng.random() < 0.5 else [day, "08:00", "18:00"]]
    if rng.random() < 0.3:
        windows.append([rng.choice(("sat", "sun")), "08:00", "08:00"])
    return windows


def build(rng: random.Random, *, physicians: int, on_call_share: float = 0.35,
          single_on_call: str | None = None) -> Network:
    """``physicians`` doctors in the nine countries. ``single_on_call``: that specialty keeps
    exactly one doctor with an on-call schedule (a failure case of docs/routing.md)."""
    spec_names = sorted(WORKFORCE)
    spec_weights = [WORKFORCE[s] for s in spec_names]
    countries = sorted(COUNTRIES)
    docs = []
    for i in range(physicians):
        country = rng.choices(countries, weights=[COUNTRIES[c][0] for c in countries])[0]
        _, zones, langs = COUNTRIES[country]
        tz_name = _pick(rng, zones)
        first = _pick(rng, langs)
        languages = (first, "en") if first != "en" and rng.random() < 0.5 else (first,)
        specialty = rng.choices(spec_names, weights=spec_weights)[0]
        specialties = (specialty,)
        on_call = rng.random() < on_call_share
        schedule = parse_schedule(_rota(rng)) if on_call else ()
        docs.append(Doc(
            id=f"d{i:06d}", country=country, tz_name=tz_name, zone=parse_timezone(tz_name),
            languages=languages, specialties=specialties,
            accept_p=min(0.95, max(0.05, rng.betavariate(4, 4))),
            decline_p=min(0.5, max(0.0, rng.betavariate(2, 8))),
            answer_median_s=math.exp(rng.gauss(math.log(25.0), 0.6)),
            activity=min(4.0, math.exp(rng.gauss(-0.18, 0.6))),
            schedule=schedule))
    if single_on_call is not None:
        group = [d for d in docs if single_on_call in d.specialties]
        for d in group[1:]:
            d.schedule = ()
        if group:
            group[0].schedule = parse_schedule([[day, "08:00", "08:00"] for day in
                                                ("mon", "tue", "wed", "thu", "fri", "sat", "sun")])
    return Network(docs)
