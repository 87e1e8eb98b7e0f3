"""The Django Channels tutorial chat, verbatim, as the benchmark's baseline.

Same daphne, same channel layer (in-memory or channels-redis on the same Redis), nothing
stored: the reference point for the Curbside/baseline ratios in docs/benchmarks.md.
"""
