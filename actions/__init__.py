"""Concrete gauge actions. Each is registered under the entry-point group ``lqcd_hmc.actions``;
build any of them, ours or a third party's, with :func:`build`."""

from lqcd_hmc.action import Action, SumAction, available, build

from .gauge import DBW2, Clover, Iwasaki, LoopAction, LuscherWeisz, Symanzik, TadpoleSymanzik
from .wilson import Wilson

__all__ = [
    "Action",
    "SumAction",
    "Wilson",
    "LoopAction",
    "LuscherWeisz",
    "Symanzik",
    "TadpoleSymanzik",
    "Iwasaki",
    "DBW2",
    "Clover",
    "available",
    "build",
]
