"""Synthetic priors over tasks of learning curves, the data the curvecast PFN is trained on.

- :class:`TaskBatch`, :data:`CONFIG_FIELDS`, :data:`SCHEDULES`: the shared data model (:mod:`.batch`).
- :class:`CurvePrior`: the scaling-law prior over multi-run tasks; :func:`default` is the one the shipped
  model is trained on.
- :class:`SimplePowerLawPrior`: single-run noisy power laws, for quick training tests.
- :func:`check_prior`: the conformance check every prior must pass.

A prior is a frozen dataclass with ``sample(n_tasks, *, generator, device="cpu", n_points=None) -> TaskBatch``
that draws all its randomness from ``generator``.
"""

from curvecast.priors.batch import CONFIG_FIELDS, SCHEDULES, TaskBatch
from curvecast.priors.check import check_prior
from curvecast.priors.curve_prior import CurvePrior
from curvecast.priors.simple import SimplePowerLawPrior

__all__ = ["TaskBatch", "CONFIG_FIELDS", "SCHEDULES", "CurvePrior", "SimplePowerLawPrior", "check_prior", "default"]


def default() -> CurvePrior:
    """The prior the shipped model is trained on."""
    return CurvePrior()
