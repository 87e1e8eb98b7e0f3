"""The search index of cases (docs/search.md): the distinct terms of a case's texts — title,
question, chief complaint, history, findings and, once resolved, the outcome — as keyed
blind tokens (crypto.search_terms) in ``CaseTerm``, written by the transaction that writes
the texts (``case_open``, ``case_resolve``)."""

from __future__ import annotations

from consult.models import CaseTerm
from core.terms import distinct_terms
from crypto.search_terms import term_tokens


def case_terms_write(case_id: object, texts: list[str]) -> int:
    """Replace the case's terms with those of ``texts``; returns how many it holds now."""
    CaseTerm.objects.filter(case_id=case_id).delete()
    tokens = term_tokens(sorted(distinct_terms(*texts)))
    CaseTerm.objects.bulk_create([CaseTerm(case_id=case_id, term=t) for t in tokens])
    return len(tokens)
