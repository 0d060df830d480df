"""``python -m bench``: the speed suite (:mod:`bench.suite`); the other benchmarks run as
``python -m bench.<name>``."""

from .suite import main

main()
