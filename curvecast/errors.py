"""The curvecast error hierarchy.

Every error a user can trigger with bad input derives from :class:`CurvecastError` and, where natural,
from the matching built-in (``ValueError``, ``TypeError``, ``FileNotFoundError``), so existing
``except ValueError`` blocks keep working. Messages say what was wrong and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "CurvecastError",
    "InvalidConfigError",
    "ShapeError",
    "InvalidCurveError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "PriorCheckError",
    "PriorLoadError",
    "DeviceUnavailableError",
    "TrainingDivergedError",
    "SearchSpaceError",
    "UnknownTrialError",
    "TrialStateError",
    "StorageError",
    "SearchExhausted",
    "CurvecastWarning",
]


class CurvecastError(Exception):
    """Base class of every error curvecast raises on purpose."""


class InvalidConfigError(CurvecastError, ValueError):
    """A configuration value (prior, model, training or CLI option) is out of range or of the wrong kind."""


class ShapeError(CurvecastError, ValueError):
    """Tensors or arrays whose shapes do not fit together."""


class InvalidCurveError(CurvecastError, ValueError):
    """Curve data that cannot be used: NaN/inf, unsorted x, too few points, ..."""


class CheckpointError(CurvecastError, ValueError):
    """A checkpoint folder or file that cannot be read (corrupt, incomplete, or from an incompatible version)."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A checkpoint path that does not exist."""


class PriorCheckError(CurvecastError, AssertionError):
    """A prior that violates the conformance rules checked by :func:`curvecast.priors.check_prior`."""


class PriorLoadError(InvalidConfigError):
    """A ``--prior module:attr`` or ``--prior-file FILE.py:NAME`` that names nothing importable, or no prior."""


class DeviceUnavailableError(CurvecastError, RuntimeError):
    """A device (e.g. ``cuda``) was requested that this machine does not have."""


class TrainingDivergedError(CurvecastError, RuntimeError):
    """The training loss became NaN or infinite; nothing from that point on was checkpointed."""


class SearchSpaceError(InvalidConfigError):
    """A search space, or a config checked against one, that is empty, malformed or out of range."""


class UnknownTrialError(CurvecastError, LookupError):
    """A trial id the optimizer never handed out."""


class TrialStateError(CurvecastError, ValueError):
    """A call that does not fit the trial's state: a tell after it completed, or points beyond its budget."""


class StorageError(CurvecastError, ValueError):
    """Optimizer storage that cannot be used: another study's search space or direction, or an unreadable file."""


class SearchExhausted(CurvecastError, RuntimeError):
    """``Optimizer.ask`` has nothing left to propose: every configuration of a finite space is running or complete.

    Not a ``StopIteration``: raised inside a generator, that would turn into an unrelated ``RuntimeError``."""


class CurvecastWarning(UserWarning):
    """Input that curvecast repaired on its own (dropped NaN points, averaged repeated x, thinned context)."""
