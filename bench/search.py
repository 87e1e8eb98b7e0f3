"""How long a search takes over 10,000 indexed messages: ``python -m bench.search``.

Runs against ``DATABASE_URL`` (migrated; use a database of its own — it adds a bench
physician and ``--messages`` messages to ``lounge-cardiology`` the first time, and reuses
them after). Bodies are clinical sentences drawn from an English and Spanish vocabulary with
a Zipf-like skew (a few words in most messages, most words in few), ~25 words each.

Prints the cost of indexing (µs per message stored in group commits of 200, and how much of
it the index takes: normalising, keying and inserting the terms) and, per query — a rare
word, a common word, three words, a word found nowhere — the fastest, median and 95th
percentile over ``--rounds`` runs of ``consult.search.search`` (tokens, the access-limited
ranked SQL, opening the page's 20 hits for snippets) as a verified physician. Not a test:
no threshold is asserted (docs/search.md records the figures).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

VOCAB = (
    "fever cough dyspnoea chest pain syncope palpitations troponin ecg echo murmur "
    "tachycardia bradycardia fibrillation flutter anticoagulation apixaban warfarin heparin "
    "amiodarone digoxin bisoprolol ramipril furosemide spironolactone statin aspirin "
    "clopidogrel ticagrelor stent angiography ischaemia infarction pericarditis myocarditis "
    "effusion tamponade hypertension hypotension sepsis lactate creatinine potassium sodium "
    "magnesium haemoglobin platelets ferritin crp procalcitonin dimer embolism thrombosis "
    "ultrasound ct mri biopsy culture antibiotic amoxicillin ceftriaxone vancomycin "
    "fiebre tos disnea dolor torácico síncope palpitaciones taquicardia bradicardia "
    "fibrilación anticoagulación insuficiencia cardíaca neumonía derrame pleural "
    "ecocardiograma electrocardiograma troponina creatinina potasio hemoglobina plaquetas "
    "antibiótico amoxicilina ceftriaxona niño anciana varón mujer años semanas días "
    "ingreso alta urgencias uci diuréticos betabloqueante marcapasos cardioversión "
    "ablación stent cateterismo isquemia infarto miocarditis pericarditis taponamiento"
).split()
FILLER = "the patient was with and after for in on a de la el en con por para y tras".split()


ZIPF = [1 / (rank + 1) for rank in range(len(VOCAB))]


def _body(rng: random.Random) -> str:
    """~25 words: a third filler (stop words), the rest clinical words, most of them drawn
    by Zipf's law (the word of rank r with weight 1/r: "fever" is in most messages)."""
    words = []
    for _ in range(25):
        if rng.random() < 0.35:
            words.append(rng.choice(FILLER))
        elif rng.random() < 0.6:
            words.append(rng.choices(VOCAB, weights=ZIPF)[0])
        else:
            words.append(rng.choice(VOCAB))
        if rng.random() < 0.1:
            words.append(str(rng.randint(1, 400)))
    return " ".join(words)


def _author(user):
    from rooms import roster
    return roster.author_for(user_id=str(user.pk), room_id=ROOM, role=user.role,
                             specialty="cardiology", verified=True)


ROOM = "lounge-cardiology"


def fill(user, messages: int, rng: random.Random) -> tuple[int, float, float]:
    """Post messages until the room holds ``messages``, 200 per group commit; returns
    (posted, µs per message to store it, µs of that spent indexing it: terms, tokens and
    the INSERT of its term rows)."""
    from rooms import messages as writer
    from rooms import search_index, services
    from rooms.models import Message

    services.room_join(room_id=ROOM, user=user)
    have = Message.objects.filter(room_id=ROOM).count()
    todo = max(0, messages - have)
    author = _author(user)
    spent = {"index": 0.0}
    add = search_index.message_terms_add

    def timed(items):
        t = time.perf_counter()
        try:
            return add(items)
        finally:
            spent["index"] += time.perf_counter() - t

    search_index.message_terms_add = timed
    stored = 0.0
    try:
        for start in range(0, todo, 200):
            bodies = [_body(rng) for _ in range(min(200, todo - start))]
            drafts = [writer.Draft(user=user, author=author, body=b,
                                   client_id=f"bench-{have + start + i}")
                      for i, b in enumerate(bodies)]
            t = time.perf_counter()
            writer.messages_post(room_id=ROOM, drafts=drafts)
            stored += time.perf_counter() - t
    finally:
        search_index.message_terms_add = add
    per = (lambda s: s / todo * 1e6) if todo else (lambda s: 0.0)
    return todo, per(stored), per(spent["index"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    django.setup()
    from django.db import connection

    from bench.fixtures import _user
    from consult import search
    from core.terms import terms
    from crypto.search_terms import term_tokens
    from rooms.models import Message, MessageTerm
    from rooms.search_index import message_body

    user, _ = _user(9001)
    rng = random.Random(14)
    posted, store_us, index_us = fill(user, args.messages, rng)
    if posted:
        print(f"posted {posted} messages: {store_us:.0f} µs each to store, {index_us:.0f} µs "
              f"of it indexing (terms, keyed tokens, their INSERT)")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh statistics, as autovacuum keeps them in service
    rows = MessageTerm.objects.filter(room_id=ROOM).count()
    print(f"{ROOM}: {rows} term rows")
    queries = {"rare word": "tamponade", "common word": "fever",
               "three words": "fiebre troponina síncope", "absent word": "zzyzx"}
    print(f"{'query':<14}{'matches':>8}{'min ms':>8}{'p50 ms':>8}{'p95 ms':>8}")
    for name, q in queries.items():
        times = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            search.search(user=user, q=q)
            times.append((time.perf_counter() - t) * 1e3)
        times.sort()
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        matches = MessageTerm.objects.filter(term__in=term_tokens(search.query_terms(q))).values(
            "message_id").distinct().count()
        print(f"{name:<14}{matches:>8}{times[0]:>8.1f}{statistics.median(times):>8.1f}"
              f"{p95:>8.1f}")
    # The alternative not taken: open every readable message and scan it (docs/search.md).
    scans = []
    for _ in range(max(1, args.rounds // 10)):
        t = time.perf_counter()
        wanted = set(search.query_terms("tamponade"))
        found = sum(1 for m in Message.objects.filter(room_id=ROOM).iterator(chunk_size=2000)
                    if wanted & set(terms(message_body(m))))
        scans.append((time.perf_counter() - t) * 1e3)
    print(f"decrypt-and-scan of the same room for one word: {found} matches, "
          f"{min(scans):.0f} ms at best, {statistics.median(scans):.0f} ms median")


if __name__ == "__main__":
    main()
