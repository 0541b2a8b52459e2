"""Freeze-thaw Bayesian optimisation with the PFN, on BoTorch.

- :class:`Float`, :class:`Int`, :class:`Categorical`: a search space is a dict of them.
- :class:`Optimizer`: ``ask()`` / ``tell()`` / ``best()`` / ``add()``, persisted in SQLite.
- :func:`minimize`: the whole loop with a progress bar.
- :class:`PFNModel`: the PFN as a BoTorch ``Model`` (joint, reparameterised posterior samples), for
  BoTorch's acquisition functions and ``optimize_acqf``.
"""

from curvecast.bo.model import PFNModel, PFNPosterior, load_bo_predictor
from curvecast.bo.optimizer import Optimizer, SearchExhausted, Trial, minimize
from curvecast.bo.policy import Decision, PolicySettings, freeze_thaw_decision
from curvecast.bo.space import Categorical, Float, Int, SearchSpace

__all__ = [
    "Float",
    "Int",
    "Categorical",
    "SearchSpace",
    "Optimizer",
    "Trial",
    "minimize",
    "SearchExhausted",
    "PFNModel",
    "PFNPosterior",
    "load_bo_predictor",
    "PolicySettings",
    "Decision",
    "freeze_thaw_decision",
]
