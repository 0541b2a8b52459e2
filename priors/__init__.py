"""Synthetic priors over tasks of learning curves, the data the curvecast PFN is trained on.

- :class:`TaskBatch`, :data:`CONFIG_FIELDS`, :data:`SCHEDULES`: the shared data model (:mod:`.batch`).
- :class:`CurvePrior`: the scaling-law prior over multi-run tasks; :func:`default` is the one the shipped
  model is trained on.
- :class:`SimplePowerLawPrior`: single-run noisy power laws, for quick training tests.
- :class:`IsoFlopProfilePrior`: isoFLOP profiles (loss against model size at one budget) as single curves.
- :class:`Mixture`: tasks drawn from several priors by weight.
- :class:`CurveBank`: logged curves replayed as tasks (fine-tune on your own domain's runs).
- :func:`check_prior`: the conformance check every prior must pass.
- :func:`load_prior`: a prior named on the command line (built-in name, ``module:attr`` or ``file.py:NAME``).

A prior is a frozen dataclass with ``sample(n_tasks, *, generator, device="cpu", n_points=None) -> TaskBatch``
that draws all its randomness from ``generator``.
"""

import dataclasses
from typing import Any, Literal

from curvecast.errors import InvalidConfigError
from curvecast.priors.batch import CONFIG_FIELDS, SCHEDULES, TaskBatch
from curvecast.priors.check import check_prior
from curvecast.priors.curve_bank import CurveBank
from curvecast.priors.curve_prior import CurvePrior
from curvecast.priors.isoflop import IsoFlopProfilePrior
from curvecast.priors.loading import load_prior, prior_record
from curvecast.priors.mixture import Mixture
from curvecast.priors.simple import SimplePowerLawPrior

__all__ = ["TaskBatch", "CONFIG_FIELDS", "SCHEDULES", "CurvePrior", "SimplePowerLawPrior", "IsoFlopProfilePrior", "check_prior", "Mixture", "CurveBank", "load_prior", "prior_record", "default", "named", "PriorName"]

PriorName = Literal["default", "simple"]


def default() -> CurvePrior:
    """The prior the shipped model is trained on."""
    return CurvePrior()


def named(name: PriorName, **overrides: Any) -> CurvePrior | SimplePowerLawPrior:
    """A built-in prior by name (``default`` or ``simple``), with some of its fields overridden.

    Lists (as JSON config files give them) are turned into tuples for tuple-valued fields.
    """
    if name not in ("default", "simple"):
        raise InvalidConfigError(f"unknown prior {name!r}; choose 'default' or 'simple'")
    base = default() if name == "default" else SimplePowerLawPrior()
    known = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InvalidConfigError(f"{type(base).__name__} has no fields {unknown}; its fields are {sorted(known)}")
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return dataclasses.replace(base, **overrides)
