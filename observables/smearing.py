"""Smearing, re-exported: the field transformations live in the engine (:mod:`lqcd_hmc.smearing`),
since actions (stout-smeared terms, fat links) and observables both use them."""

from lqcd_hmc.smearing import ape, hyp, smear, stout

__all__ = ["ape", "hyp", "smear", "stout"]
