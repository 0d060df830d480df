"""Workflows: the top layer (docs/architecture.md). Each composes the engine (``lqcd_hmc``),
actions and observables into a command: FP data and fits (:mod:`.fixed_point`), L-CNN training
(:mod:`.training`), tuning and comparing actions (:mod:`.study`). Their commands plug into
``lqcd-hmc`` through the entry-point group ``lqcd_hmc.commands``."""
