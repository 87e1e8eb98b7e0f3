"""Curbside's load generator and benchmark scenarios (issue 6). ``python -m bench --help``.

Nothing here is imported by the server; ``make test`` runs only tests/bench's smoke test.
"""
