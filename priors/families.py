"""Progress shapes: decreasing curves ``g(tau)`` with ``g(0) = 1`` and ``g -> 0`` as ``tau -> inf``.

``tau`` is effective training time in units of the run's characteristic time ``tau0`` (so ``tau = 1`` is
"about half-way" for most shapes). A loss curve is ``floor + (start - floor) * g(tau)``; an accuracy curve
maps the same progress into ``[chance, ceiling]``. The families cover the parametric learning-curve models
of Domhan et al. (2015) and LC-PFN (Adriaensen et al., 2023), rewritten to start at 1 and decay to 0:

=========================  =====================================================  ==========================
family                     ``g(tau)``                                             covers
=========================  =====================================================  ==========================
``power_law``              ``(1 + tau)^-alpha``                                   pow3, pow4, Chinchilla D term
``broken_power_law``       ``(1 + tau)^-a1 * (1 + (tau/tb)^(1/s))^(-(a2-a1) s)``  smoothly broken power law
``log_logistic``           ``1 / (1 + tau^c)``                                    mmf, log-power, hill3
``stretched_exponential``  ``exp(-tau^c)``                                        exp3, exp4, weibull, janoschek
``inverse_log``            ``1 / (1 + b log(1 + tau))``                           ilog2
``plateau_drop``           ``w exp(-tau/ta) + (1 - w) / (1 + (tau/tb)^c)``        plateau, then a late drop
=========================  =====================================================  ==========================

Each :class:`Family` turns uniforms into its parameters (``n x k``) and evaluates ``g`` for ``n`` curves at
once (``tau``: ``n x n_points``, parameters broadcast per row). Evaluation works in place on ``tau`` so that
the prior's sampler allocates nothing per family; :func:`evaluate_family` is the out-of-place public form.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from curvecast.errors import InvalidConfigError

__all__ = ["Family", "FAMILIES", "FAMILY_NAMES", "MAX_FAMILY_PARAMS", "evaluate_family", "family_index", "log_uniform", "uniform"]

#: Largest number of parameters of any family (the width of a parameter matrix).
MAX_FAMILY_PARAMS = 4


def log_uniform(u: Tensor, lo: float, hi: float) -> Tensor:
    """Uniforms ``u`` in ``[0, 1)`` mapped to log-uniform values in ``[lo, hi)``."""
    return torch.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))


def uniform(u: Tensor, lo: float, hi: float) -> Tensor:
    """Uniforms ``u`` in ``[0, 1)`` mapped to ``[lo, hi)``."""
    return lo + u * (hi - lo)


@dataclass(frozen=True)
class Family:
    """A progress shape.

    - ``param_names``: names of its ``k`` parameters.
    - ``sample(u)``: ``n x MAX_FAMILY_PARAMS`` uniforms in ``[0, 1)`` -> ``n x k`` parameters.
    - ``evaluate_(tau, params, work)``: ``tau`` (``n x P``, overwritten with ``g``), ``params`` (``n x k``),
      ``work`` (``n x P`` scratch space); returns ``tau``.
    """

    name: str
    param_names: tuple[str, ...]
    sample: Callable[[Tensor], Tensor]
    evaluate_: Callable[[Tensor, Tensor, Tensor], Tensor]


def _col(params: Tensor, i: int) -> Tensor:
    return params[:, i : i + 1]


def _power_law_(tau: Tensor, p: Tensor, work: Tensor) -> Tensor:
    return tau.log1p_().mul_(-_col(p, 0)).exp_()


def _broken_power_law_(tau: Tensor, p: Tensor, work: Tensor) -> Tensor:
    a1, a2, tb, s = (_col(p, i) for i in range(4))
    torch.log1p(tau, out=work).mul_(-a1)
    tau.div_(tb).log_().div_(s).exp_().log1p_().mul_(-(a2 - a1) * s)
    return tau.add_(work).exp_()


def _log_logistic_(tau: Tensor, p: Tensor, work: Tensor) -> Tensor:
    return tau.log_().mul_(_col(p, 0)).exp_().add_(1.0).reciprocal_()


def _stretched_exponential_(tau: Tensor, p: Tensor, work: Tensor) -> Tensor:
    return tau.log_().mul_(_col(p, 0)).exp_().neg_().exp_()


def _inverse_log_(tau: Tensor, p: Tensor, work: Tensor) -> Tensor:
    return tau.log1p_().mul_(_col(p, 0)).add_(1.0).reciprocal_()


def _plateau_drop_(tau: Tensor, p: Tensor, work: Tensor) -> Tensor:
    w, ta, tb, c = (_col(p, i) for i in range(4))
    torch.div(tau, -ta, out=work).exp_().mul_(w)
    tau.div_(tb).log_().mul_(c).exp_().add_(1.0).reciprocal_().mul_(1.0 - w)
    return tau.add_(work)


def _sample_broken(u: Tensor) -> Tensor:
    a1 = log_uniform(u[:, 0], 0.03, 1.0)
    return torch.stack([a1, a1 + uniform(u[:, 1], 0.1, 1.5), log_uniform(u[:, 2], 1.0, 1e3), uniform(u[:, 3], 0.1, 1.0)], 1)


def _sample_plateau(u: Tensor) -> Tensor:
    return torch.stack(
        [uniform(u[:, 0], 0.0, 0.8), log_uniform(u[:, 1], 0.05, 1.0), log_uniform(u[:, 2], 3.0, 1e3), uniform(u[:, 3], 1.5, 6.0)],
        1,
    )


#: The registry, in the order used by :attr:`CurvePrior.family_weights`.
FAMILIES: tuple[Family, ...] = (
    Family("power_law", ("alpha",), lambda u: log_uniform(u[:, :1], 0.05, 2.0), _power_law_),
    Family("broken_power_law", ("alpha1", "alpha2", "tau_break", "smoothness"), _sample_broken, _broken_power_law_),
    Family("log_logistic", ("c",), lambda u: log_uniform(u[:, :1], 0.3, 3.0), _log_logistic_),
    Family("stretched_exponential", ("c",), lambda u: log_uniform(u[:, :1], 0.2, 1.5), _stretched_exponential_),
    Family("inverse_log", ("b",), lambda u: log_uniform(u[:, :1], 0.2, 5.0), _inverse_log_),
    Family("plateau_drop", ("early_fraction", "tau_early", "tau_late", "sharpness"), _sample_plateau, _plateau_drop_),
)

FAMILY_NAMES: tuple[str, ...] = tuple(f.name for f in FAMILIES)


def family_index(name: str) -> int:
    """Position of family ``name`` in :data:`FAMILIES`."""
    if name not in FAMILY_NAMES:
        raise InvalidConfigError(f"unknown family {name!r}; use one of {FAMILY_NAMES}")
    return FAMILY_NAMES.index(name)


def evaluate_family(name: str, tau: Tensor, params: Tensor | float | tuple[float, ...]) -> Tensor:
    """``g(tau)`` of family ``name``.

    Args:
        name: a name from :data:`FAMILY_NAMES`.
        tau: ``n x P`` (or ``P``) non-negative effective times in units of ``tau0``.
        params: ``n x k`` parameters (or ``k`` values shared by all rows), see :attr:`Family.param_names`.

    Returns:
        ``g``, same shape as ``tau``.
    """
    family = FAMILIES[family_index(name)]
    squeeze = tau.ndim == 1
    tau2 = tau.reshape(1, -1) if squeeze else tau
    p = torch.as_tensor(params, dtype=tau.dtype, device=tau.device).reshape(-1, len(family.param_names))
    p = p.expand(tau2.shape[0], -1)
    g = family.evaluate_(tau2.clone(), p, torch.empty_like(tau2))
    return g.reshape(tau.shape)
