"""Checkpoints, in one home: their names (:mod:`.names`), reading and the architecture check
(:mod:`.reader`), resuming and its fallback (:mod:`.resume`), weights for eval, generate, export and
``init_from`` (:mod:`.weights`), atomic background writes (:mod:`.io`), and the callbacks that
write them (:mod:`.last`, :mod:`.best`)."""

from gptlab.checkpoints.best import BestCheckpoint
from gptlab.checkpoints.last import LastCheckpoint

__all__ = ["BestCheckpoint", "LastCheckpoint"]
