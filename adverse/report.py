"""The structured report: its vocabulary, and parsing a JSON body into a checked ``Draft``.

Every refusal names the field by its path (``suspect_drugs[0].name``) with a message and a
stable code in ``details.codes`` (the codes below), so a client can point at the box to
fix. The vocabularies follow ICH E2B(R3) where it has one (outcome, age group, sex,
seriousness criteria, dechallenge/rechallenge), under readable names; docs/adverse.md
maps each to its E2B value.

Dates: Safe Harbor counts every element of a date but the year as an identifier, so drug
start and stop are years and a reaction's onset is a number of days after the first
suspect drug was started, never a calendar date.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from core import text
from core.errors import ValidationFailed

# Stable error codes (``details.codes[path]``).
REQUIRED = "required"
INVALID = "invalid"
UNKNOWN_CHOICE = "unknown_choice"
TOO_LONG = "too_long"
TOO_MANY = "too_many"
OUT_OF_RANGE = "out_of_range"
SERIOUSNESS_INCONSISTENT = "seriousness_inconsistent"
UNKNOWN_CASE = "unknown_case"

SERIOUSNESS = ("death", "life_threatening", "hospitalisation", "disability",
               "congenital_anomaly", "other_important")
OUTCOMES = ("recovered", "recovering", "not_recovered", "recovered_with_sequelae", "fatal",
            "unknown")
CHALLENGE = ("positive", "negative", "not_applicable", "unknown")
AGE_BANDS = ("foetus", "neonate", "infant", "child", "adolescent", "adult", "elderly", "unknown")
SEXES = ("female", "male", "unknown")
ROUTES = ("oral", "intravenous", "intramuscular", "subcutaneous", "topical", "transdermal",
          "inhalation", "ophthalmic", "rectal", "vaginal", "other", "unknown")
LANGUAGES = ("en", "es")

MAX_SUSPECT = 10
MAX_CONCOMITANT = 20
MAX_REACTIONS = 10
NAME_MAX = 120  # a drug name, a dose, a reaction term
NARRATIVE_MAX = 2000
EARLIEST_YEAR = 1900
ONSET_MAX_DAYS = 36500


@dataclass
class Drug:
    name: str
    dose: str = ""
    route: str = "unknown"
    start_year: int | None = None
    stop_year: int | None = None
    ingredient: str = ""  # filled by normalisation


@dataclass
class Reaction:
    term: str
    outcome: str = "unknown"
    onset_days: int | None = None
    code: str = ""  # filled by normalisation


@dataclass
class Draft:
    suspect_drugs: list[Drug]
    concomitant_drugs: list[Drug]
    reactions: list[Reaction]
    seriousness: dict[str, bool]
    dechallenge: str
    rechallenge: str
    age_band: str
    sex: str
    country: str
    reporter_specialty: str
    narrative: str = ""
    language: str = "en"
    case: str | None = None
    confirm_phi: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def serious(self) -> bool:
        return any(self.seriousness.values())

    def free_text(self) -> list[tuple[str, str]]:
        """(path, text) of every field a person typed: what the PHI guard reads."""
        out = []
        for kind in ("suspect_drugs", "concomitant_drugs"):
            for i, d in enumerate(getattr(self, kind)):
                out += [(f"{kind}[{i}].name", d.name), (f"{kind}[{i}].dose", d.dose)]
        out += [(f"reactions[{i}].term", r.term) for i, r in enumerate(self.reactions)]
        out.append(("narrative", self.narrative))
        return [(p, t) for p, t in out if t]

    def as_dict(self) -> dict:
        doc = asdict(self)
        doc.pop("confirm_phi")
        doc.pop("extra")
        doc["serious"] = self.serious
        return doc


class Problems:
    """Collects field errors; ``raise_if_any`` raises them all at once."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.codes: dict[str, str] = {}

    def add(self, path: str, code: str, message: str) -> None:
        self.fields.setdefault(path, message)
        self.codes.setdefault(path, code)

    def raise_if_any(self) -> None:
        if self.fields:
            raise ValidationFailed("Some fields of the report are invalid.", fields=self.fields,
                                   details={"codes": self.codes})


def _string(p: Problems, obj: dict, key: str, path: str, *, required: bool = False,
            max_len: int = NAME_MAX, multiline: bool = False) -> str:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            p.add(path, REQUIRED, "This field is required.")
        return ""
    if not isinstance(value, str):
        p.add(path, INVALID, "Expected a string.")
        return ""
    value = value.strip()
    if required and not value:
        p.add(path, REQUIRED, "This field is required.")
    elif len(value) > max_len:
        p.add(path, TOO_LONG, f"At most {max_len} characters.")
    elif not text.text_ok(value, multiline=multiline):
        p.add(path, INVALID, f"It {text.TEXT_RULE if multiline else text.LINE_RULE}.")
    return value


def _choice(p: Problems, obj: dict, key: str, path: str, choices: tuple[str, ...],
            default: str) -> str:
    value = obj.get(key, default)
    if value is None:
        return default
    if value not in choices:
        p.add(path, UNKNOWN_CHOICE, f"One of {', '.join(choices)}.")
        return default
    return value


def _int(p: Problems, obj: dict, key: str, path: str, lo: int, hi: int) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        p.add(path, INVALID, "Expected an integer.")
        return None
    if not lo <= value <= hi:
        p.add(path, OUT_OF_RANGE, f"From {lo} to {hi}.")
        return None
    return value


def _list(p: Problems, body: dict, key: str, most: int, *, required: bool) -> list[dict]:
    value = body.get(key)
    if value is None or value == []:
        if required:
            p.add(key, REQUIRED, "At least one is required.")
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        p.add(key, INVALID, "Expected a list of objects.")
        return []
    if len(value) > most:
        p.add(key, TOO_MANY, f"At most {most}.")
        return []
    return value


def _drugs(p: Problems, body: dict, key: str, most: int, *, required: bool,
           this_year: int) -> list[Drug]:
    out = []
    for i, obj in enumerate(_list(p, body, key, most, required=required)):
        at = f"{key}[{i}]"
        drug = Drug(
            name=_string(p, obj, "name", f"{at}.name", required=True),
            dose=_string(p, obj, "dose", f"{at}.dose"),
            route=_choice(p, obj, "route", f"{at}.route", ROUTES, "unknown"),
            start_year=_int(p, obj, "start_year", f"{at}.start_year", EARLIEST_YEAR, this_year),
            stop_year=_int(p, obj, "stop_year", f"{at}.stop_year", EARLIEST_YEAR, this_year),
        )
        if drug.start_year and drug.stop_year and drug.stop_year < drug.start_year:
            p.add(f"{at}.stop_year", OUT_OF_RANGE, "Stopped before it was started.")
        out.append(drug)
    return out


def _reactions(p: Problems, body: dict) -> list[Reaction]:
    out = []
    for i, obj in enumerate(_list(p, body, "reactions", MAX_REACTIONS, required=True)):
        at = f"reactions[{i}]"
        out.append(Reaction(
            term=_string(p, obj, "term", f"{at}.term", required=True),
            outcome=_choice(p, obj, "outcome", f"{at}.outcome", OUTCOMES, "unknown"),
            onset_days=_int(p, obj, "onset_days", f"{at}.onset_days", 0, ONSET_MAX_DAYS),
        ))
    return out


def _seriousness(p: Problems, body: dict) -> dict[str, bool]:
    value = body.get("seriousness") or {}
    if not isinstance(value, dict):
        p.add("seriousness", INVALID, "Expected an object of true/false criteria.")
        return dict.fromkeys(SERIOUSNESS, False)
    for key in value:
        if key not in SERIOUSNESS:
            p.add(f"seriousness.{key}", UNKNOWN_CHOICE, f"One of {', '.join(SERIOUSNESS)}.")
    out = {}
    for key in SERIOUSNESS:
        flag = value.get(key, False)
        if not isinstance(flag, bool):
            p.add(f"seriousness.{key}", INVALID, "Expected true or false.")
            flag = False
        out[key] = flag
    return out


def seriousness_check(p: Problems, *, seriousness: dict[str, bool],
                      reactions: list[Reaction], age_band: str) -> None:
    """The rules that tie the criteria to the rest of the report (E2B(R3) semantics):

    - a reaction whose outcome is fatal makes the report serious with the *death* criterion,
      and the death criterion needs a reaction with a fatal outcome (the criterion says the
      reaction resulted in death, not that the patient died of something else);
    - a congenital anomaly is reported for a foetus or a newborn-to-child patient, never for
      an adult or elderly one (the anomaly is the child's).
    """
    fatal = any(r.outcome == "fatal" for r in reactions)
    if fatal and not seriousness.get("death"):
        p.add("seriousness.death", SERIOUSNESS_INCONSISTENT,
              "A reaction with a fatal outcome makes the report serious (death).")
    if seriousness.get("death") and not fatal:
        p.add("seriousness.death", SERIOUSNESS_INCONSISTENT,
              "The death criterion needs a reaction whose outcome is fatal.")
    if seriousness.get("congenital_anomaly") and age_band in ("adult", "elderly"):
        p.add("seriousness.congenital_anomaly", SERIOUSNESS_INCONSISTENT,
              "A congenital anomaly is reported for the child (foetus to adolescent).")


def draft_parse(body: dict, *, country: str, specialty: str, this_year: int,
                countries: tuple[str, ...], country_aliases: dict[str, str]) -> Draft:
    """A checked draft from a JSON body; ``country`` and ``specialty`` are the reporter's own,
    the defaults. Specialty slugs are checked by the caller (they live in the database).

    Raises:
        ValidationFailed: every problem at once, ``details.codes`` holding each one's code.
    """
    p = Problems()
    raw_country = body.get("country", country)
    if not isinstance(raw_country, str):
        p.add("country", INVALID, "Expected a country code.")
        raw_country = country
    code = raw_country.strip().upper()
    code = country_aliases.get(code, code)
    if code not in countries:
        p.add("country", UNKNOWN_CHOICE, f"One of {', '.join(countries)}.")
    reactions = _reactions(p, body)
    age_band = _choice(p, body, "age_band", "age_band", AGE_BANDS, "unknown")
    seriousness = _seriousness(p, body)
    case = body.get("case")
    if case is not None and not (isinstance(case, str) and text.identifier_ok(case)):
        p.add("case", INVALID, "Expected a case id.")
        case = None
    confirm = body.get("confirm_phi", False)
    if not isinstance(confirm, bool):
        p.add("confirm_phi", INVALID, "Expected true or false.")
        confirm = False
    draft = Draft(
        suspect_drugs=_drugs(p, body, "suspect_drugs", MAX_SUSPECT, required=True,
                             this_year=this_year),
        concomitant_drugs=_drugs(p, body, "concomitant_drugs", MAX_CONCOMITANT, required=False,
                                 this_year=this_year),
        reactions=reactions,
        seriousness=seriousness,
        dechallenge=_choice(p, body, "dechallenge", "dechallenge", CHALLENGE, "unknown"),
        rechallenge=_choice(p, body, "rechallenge", "rechallenge", CHALLENGE, "unknown"),
        age_band=age_band,
        sex=_choice(p, body, "sex", "sex", SEXES, "unknown"),
        country=code,
        reporter_specialty=_string(p, body, "reporter_specialty", "reporter_specialty") or specialty,
        narrative=_string(p, body, "narrative", "narrative", max_len=NARRATIVE_MAX, multiline=True),
        language=_choice(p, body, "language", "language", LANGUAGES, "en"),
        case=case,
        confirm_phi=confirm,
    )
    seriousness_check(p, seriousness=seriousness, reactions=reactions, age_band=age_band)
    p.raise_if_any()
    return draft


def draft_load(doc: dict) -> Draft:
    """The draft back from its sealed JSON (``Draft.as_dict``)."""
    doc = dict(doc)
    doc.pop("serious", None)
    doc["suspect_drugs"] = [Drug(**d) for d in doc["suspect_drugs"]]
    doc["concomitant_drugs"] = [Drug(**d) for d in doc["concomitant_drugs"]]
    doc["reactions"] = [Reaction(**r) for r in doc["reactions"]]
    return Draft(**doc)
