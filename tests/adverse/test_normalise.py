"""Normalisation: drug names to ingredients, reaction terms to the controlled list."""

from __future__ import annotations

import json

import pytest

from adverse import normalise
from adverse.normalise import UNKNOWN, fold, ingredient, reaction


@pytest.mark.parametrize(("typed", "expected"), [
    ("Lipitor", "atorvastatin"),
    ("ATORVASTATINA 20 mg comprimidos", "atorvastatin"),
    ("atorvastatin calcium 40mg tablets", "atorvastatin"),
    ("Tylenol", "paracetamol"),
    ("acetaminophen", "paracetamol"),
    ("Gelocatil 650 mg", "paracetamol"),
    ("Nolotil", "metamizole"),
    ("dipyrone", "metamizole"),
    ("Ácido acetilsalicílico", "acetylsalicylic acid"),
    ("Adiro 100", "acetylsalicylic acid"),
    ("Augmentine 875/125", "amoxicillin and clavulanic acid"),
    ("co-amoxiclav", "amoxicillin and clavulanic acid"),
    ("Metformina clorhidrato 850 mg", "metformin"),
    ("rifampin", "rifampicin"),
    ("albuterol inhaler", "salbutamol"),
    ("Sintrom", "acenocoumarol"),
])
def test_drug_names_fold_to_their_ingredient(typed, expected):
    assert ingredient(typed) == expected


@pytest.mark.parametrize(("typed", "expected"), [
    ("hives", "urticaria"),
    ("Ronchas", "urticaria"),
    ("Erupción cutánea", "rash"),
    ("Insuficiencia renal aguda", "acute-kidney-injury"),
    ("acute renal failure", "acute-kidney-injury"),
    ("Hypoglycemia", "hypoglycaemia"),
    ("hipoglucemia", "hypoglycaemia"),
    ("Rabdomiólisis", "rhabdomyolysis"),
    ("Stevens-Johnson syndrome", "stevens-johnson-syndrome"),
    ("prolongación del QT", "qt-prolongation"),
])
def test_reaction_terms_fold_to_the_controlled_list(typed, expected):
    assert reaction(typed) == expected


def test_unknown_names_stay_unknown_rather_than_guessed():
    assert ingredient("Atorvastatin-ish experimental compound") == UNKNOWN
    assert ingredient("lipitorr") == UNKNOWN  # a typo is not silently someone else's drug
    assert reaction("felt odd") == UNKNOWN


def test_folding():
    assert fold("  Ácido—Acetil·salicílico ") == "acido acetil salicilico"


@pytest.mark.parametrize("name", ["drugs.json", "reactions.json"])
def test_tables_are_versioned_documented_and_unambiguous(name):
    doc = json.loads((normalise.DATA / name).read_text())
    assert doc["version"] and len(doc["about"]) > 100
    table = normalise.drugs() if name == "drugs.json" else normalise.reactions()
    # Every code's own name maps to it (loading refuses a name claimed by two codes).
    for code in table.labels:
        assert table.lookup(code) == code
    assert UNKNOWN not in table.labels


def test_every_reaction_has_english_and_spanish_labels():
    for code, labels in normalise.reactions().labels.items():
        assert labels["en"] and labels["es"], code
        assert reaction(labels["es"]) == code and reaction(labels["en"]) == code
