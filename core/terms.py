"""Search terms of a text: what the search index (docs/search.md) keys, and what a query is
split into. Pure text, no keys: ``crypto.search_terms`` turns each term into a keyed token.

Normalisation, the same for what is indexed and for what is asked:

1. Unicode NFKD, then every combining mark dropped (``é`` → ``e``, ``ñ`` → ``n``, ``ü`` → ``u``):
   "neumonía", "neumonia" and "NEUMONÍA" are one term;
2. ``casefold`` (``ß`` → ``ss``, Greek final sigma …);
3. split on anything that is not a letter or a digit (an apostrophe or a hyphen splits too);
4. drop stop words (a short English and Spanish list) and terms of one character, and cut a
   term at ``TERM_MAX_CHARS`` (a 200-letter "word" is no word a colleague searches for).

No stemming: no well-kept stemmer is among the project's dependencies, so a term matches
exactly ("fever" does not find "fevers"). Numbers are terms ("troponin 45" finds "45").
"""

from __future__ import annotations

import re
import unicodedata

TERM_MAX_CHARS = 40
# Letters (any script) and digits; underscores split too.
_WORD = re.compile(r"[^\W_]+")

STOP_WORDS = frozenset("""
a an and are as at be but by for from has have he her his i if in into is it its me my no
not of on or our she so than that the their them then there these they this to was we were
what when which who will with you your do does did been being can could would should may
had him how also any all some such
al algo como con de del desde donde el ella ellas ellos en entre era es esa ese eso esta
este esto fue ha han hay la las le les lo los mas me mi mis muy ni no nos o para pero por
que se sea si sin sobre su sus tambien te tiene un una uno unos unas y ya yo cual cuando
""".split())


def fold(text: str) -> str:
    """``text`` without accents, case-folded (steps 1 and 2 above)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def terms(text: str) -> list[str]:
    """The search terms of ``text``, in order, repeats kept (steps 1 to 4)."""
    out = []
    for word in _WORD.findall(fold(text)):
        word = word[:TERM_MAX_CHARS]
        if len(word) > 1 and word not in STOP_WORDS:
            out.append(word)
    return out


def distinct_terms(*texts: str) -> set[str]:
    """Every distinct term of ``texts`` together (what one document indexes)."""
    return {t for text in texts for t in terms(text)}
