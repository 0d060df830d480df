"""The ``lqcd-hmc`` command (and ``python -m lqcd_hmc``): the CPU allocator first
(:mod:`lqcd_hmc.allocator`), then the command line (:mod:`lqcd_hmc.cli`)."""

from .allocator import use_tcmalloc


def main() -> None:
    use_tcmalloc()
    from .cli import main as command

    command(prog_name="lqcd-hmc")


if __name__ == "__main__":
    main()
