"""A deterministic consult-network simulator that drives the real routing code
(``python -m sim``; docs/routing.md). Outside the package layers, like bench/ and tools/."""
