"""``python -m bench``: the speed suite (:mod:`bench.suite`), with the CPU allocator of the
``lqcd-hmc`` command (:mod:`lqcd_hmc.allocator`); the other benchmarks run as
``python -m bench.<name>``."""

from lqcd_hmc.allocator import use_tcmalloc

use_tcmalloc()

from .suite import main  # noqa: E402  (the allocator decides first which process runs it)

main()
