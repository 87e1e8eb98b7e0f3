"""Keyed blind tokens of search terms (docs/search.md).

A term (``core.terms``) is stored only as ``HMAC-SHA256(K_search, term)`` cut to 128 bits.
``K_search`` is derived with HKDF-SHA256 from the keyring's ``index`` KEK (the key of the
e-mail login index and of the poll voters' MAC) under its own ``info``, so no search token
equals any other blind index's value, and the search key is not a key anything else uses.
Both primitives are ``cryptography``'s.

Without the keyring a dump holder cannot tell which term a token stands for, except by what
its frequency and co-occurrence give away (docs/search.md lists it). With it, anyone can test
a guessed word — as the running server does for every query.

Rotating the ``index`` KEK changes every token: run ``manage.py search_reindex`` after it.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from crypto import aead
from crypto.keys import keyring

TOKEN_BYTES = 16
_INFO = b"curbside/search-terms/v1"


@lru_cache(maxsize=4)
def _search_key(index_key: bytes) -> bytes:
    """Keyed by the KEK itself: a keyring swapped in a test (or reloaded) derives afresh."""
    return aead.hkdf_sha256(index_key, info=_INFO)


def _mac():
    _, index_key = keyring().active("index")
    return crypto_hmac.HMAC(_search_key(index_key), hashes.SHA256())


def term_tokens(terms: set[str] | list[str]) -> list[bytes]:
    """The token of each term (in the order given)."""
    base = _mac()
    out = []
    for term in terms:
        h = base.copy()
        h.update(term.encode())
        out.append(h.finalize()[:TOKEN_BYTES])
    return out
