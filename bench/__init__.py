"""Benchmarks: `make bench` (or `python -m bench [name ...]`) starts a private stack on free ports
and writes one JSON file of results per benchmark into bench/results/."""
