"""curvecast: Bayesian learning-curve and scaling-law extrapolation with prior-data fitted networks.

The public surface is small: the error hierarchy (:mod:`curvecast.errors`), the engine packages
:mod:`curvecast.priors` (synthetic curve priors), :mod:`curvecast.pfn` (the transformer PFN),
:mod:`curvecast.training` (pretraining pipeline) and :mod:`curvecast.bo` (Bayesian optimisation),
and the ``curvecast`` command line.
"""

from curvecast import errors

__version__ = "0.1.0"

__all__ = ["errors", "__version__"]
