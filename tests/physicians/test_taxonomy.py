"""The specialty taxonomy: a consistent tree, real Spanish names, loaded by the migration."""

from __future__ import annotations

import pytest

from physicians.models import Specialty
from physicians.taxonomy import RELATED, SPECIALTIES, load_specialties, parents_first

SLUGS = [slug for slug, *_ in SPECIALTIES]
PARENT = {slug: parent for slug, parent, *_ in SPECIALTIES}


def test_about_a_hundred_specialties_with_unique_slugs():
    assert 90 <= len(SPECIALTIES) <= 140
    assert len(set(SLUGS)) == len(SLUGS)


def test_slugs_are_url_safe():
    for slug in SLUGS:
        assert slug == slug.lower() and slug.replace("-", "").isalnum(), slug
        assert len(slug) <= 64  # Specialty.slug max_length


def test_every_parent_exists_and_there_are_no_cycles():
    for slug, parent in PARENT.items():
        if parent is not None:
            assert parent in PARENT, f"{slug} → unknown parent {parent}"
        seen = {slug}
        while parent is not None:
            assert parent not in seen, f"cycle through {slug}"
            seen.add(parent)
            parent = PARENT[parent]


def test_the_tree_has_the_expected_shape():
    assert PARENT["internal-medicine"] is None
    assert PARENT["cardiology"] == "internal-medicine"
    for sub in ("interventional-cardiology", "electrophysiology", "heart-failure"):
        assert PARENT[sub] == "cardiology"
    assert PARENT["pediatric-cardiology"] == "pediatrics"
    for top in (
        "pediatrics", "surgery", "emergency-medicine", "psychiatry", "radiology", "pathology",
        "anesthesiology", "obstetrics-gynecology", "ophthalmology", "dermatology", "neurology",
        "family-medicine",
    ):  # fmt: skip
        assert PARENT[top] is None, top


def test_names_are_present_and_spanish_names_are_translations():
    for slug, _parent, name_en, name_es in SPECIALTIES:
        assert name_en.strip() and name_es.strip(), slug
    same = [slug for slug, _p, en, es in SPECIALTIES if en.casefold() == es.casefold()]
    # A handful of terms are spelled the same in both languages (Glaucoma); not more.
    assert len(same) <= 3, same
    spanish = {slug: es for slug, _p, _en, es in SPECIALTIES}
    assert spanish["cardiology"] == "Cardiología"
    assert spanish["emergency-medicine"] == "Medicina de urgencias"
    assert spanish["anesthesiology"] == "Anestesiología"
    assert spanish["pathology"] == "Anatomía patológica"
    assert sum("í" in es or "ó" in es or "á" in es for es in spanish.values()) > 40


def test_related_is_symmetric_and_names_known_specialties():
    for slug, others in RELATED.items():
        assert slug in PARENT
        assert slug not in others
        for other in others:
            assert other in PARENT
            assert slug in RELATED[other], f"{slug} ↔ {other} is one-way"
    assert "cardiac-surgery" in RELATED["cardiology"]


def test_parents_first_refuses_cycles_and_unknown_parents():
    with pytest.raises(ValueError, match="cycle"):
        parents_first([("a", "b", "A", "A"), ("b", "a", "B", "B")])
    with pytest.raises(ValueError, match="unknown parent"):
        parents_first([("a", "nope", "A", "A")])
    ordered = [slug for slug, *_ in parents_first(reversed(SPECIALTIES))]
    for slug, parent in PARENT.items():
        if parent:
            assert ordered.index(parent) < ordered.index(slug)


@pytest.mark.django_db
def test_the_data_migration_loaded_the_taxonomy():
    assert Specialty.objects.count() == len(SPECIALTIES)
    cardiology = Specialty.objects.get(slug="cardiology")
    assert cardiology.name("es") == "Cardiología"
    assert cardiology.parent.slug == "internal-medicine"
    assert set(cardiology.children.values_list("slug", flat=True)) >= {
        "interventional-cardiology",
        "electrophysiology",
        "heart-failure",
    }


@pytest.mark.django_db
def test_loading_again_updates_in_place_without_duplicates():
    cardiology = Specialty.objects.get(slug="cardiology")
    Specialty.objects.filter(slug="cardiology").update(name_es="stale")
    assert load_specialties(Specialty) == len(SPECIALTIES)
    assert Specialty.objects.count() == len(SPECIALTIES)
    reloaded = Specialty.objects.get(slug="cardiology")
    assert reloaded.pk == cardiology.pk and reloaded.name_es == "Cardiología"
