"""curvecast: Bayesian learning-curve and scaling-law extrapolation with prior-data fitted networks.

The public surface is small:

- :func:`load` returns a :class:`Predictor` (the shipped default model, or one you trained), whose
  :meth:`~Predictor.predict` / :meth:`~Predictor.predict_many` turn partial curves (:class:`Curve`) into
  :class:`Prediction` objects (quantiles, density, joint samples, fan charts);
- :mod:`curvecast.scaling` (scaling laws from tables and sweeps; :func:`curvecast.scaling.predict_final`, a run's
  final value given its sweep) and :mod:`curvecast.pooling` (:class:`PooledPrediction`, a mixture of forecasts);
- the error hierarchy :mod:`curvecast.errors`;
- the engine packages :mod:`curvecast.priors` (synthetic curve priors), :mod:`curvecast.pfn` (the
  transformer PFN), :mod:`curvecast.training` (pretraining) and :mod:`curvecast.bo` (Bayesian optimisation);
- the ``curvecast`` command line.

``import curvecast`` stays light: the torch-backed names load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from curvecast import errors

__version__ = "0.1.0"

_LAZY = {
    "load": "curvecast.predictor",
    "Predictor": "curvecast.predictor",
    "Prediction": "curvecast.prediction",
    "Curve": "curvecast.curve",
    "Run": "curvecast.run",
    "RunPredictions": "curvecast.prediction",
    "PooledPrediction": "curvecast.pooling",
}

__all__ = ["errors", "__version__", "load", "Predictor", "Prediction", "RunPredictions", "PooledPrediction", "Curve", "Run", "scaling", "pooling"]

if TYPE_CHECKING:
    from curvecast.curve import Curve
    from curvecast import pooling, scaling
    from curvecast.pooling import PooledPrediction
    from curvecast.prediction import Prediction, RunPredictions
    from curvecast.predictor import Predictor, load
    from curvecast.run import Run


#: Subpackages and modules loaded on first use (``curvecast.priors.default()`` works after ``import curvecast``).
_SUBMODULES = ("scaling", "pooling", "pfn", "priors", "bo", "training")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = import_module(f"curvecast.{name}")
        globals()[name] = value
        return value
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'curvecast' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBMODULES})
