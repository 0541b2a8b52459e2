"""The PFN as a BoTorch ``Model``: the predictive distribution of a run's value at a budget, for any config.

>>> from curvecast import bo, Run
>>> model = bo.PFNModel(space, [Run(x, y, config), ...], target_budget=30, direction="min")
>>> acqf = botorch.acquisition.qLogExpectedImprovement(model, best_f=model.best_f)
>>> candidate, _ = botorch.optim.optimize_acqf(acqf, space.bounds, q=2, num_restarts=4, raw_samples=64)

``X`` is a point of the search space's unit cube (:class:`~curvecast.bo.SearchSpace`, ``d`` columns). The
posterior at ``X`` is the PFN's prediction, at ``target_budget``, of a run not started yet with that config,
conditioned in one forward pass on every run given (finished and partial curves alike).

Outputs follow BoTorch's convention that larger is better: a metric minimised (``direction="min"``,
losses) is returned negated, so ``-posterior.mean`` is the predicted loss.

Samples are joint and reparameterised: the ``q`` points of a batch are drawn one after another, each draw
joining the context of the next (the PFN's autoregressive joint predictive), and every draw is the
predictive quantile function at ``Phi(base sample)``, so gradients flow from samples to ``X`` and
BoTorch's quasi-Monte-Carlo samplers work unchanged.
"""

from __future__ import annotations

import dataclasses

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from botorch.models.model import Model
from botorch.posteriors import Posterior
from botorch.sampling.get_sampler import GetSampler
from botorch.sampling.normal import SobolQMCNormalSampler
from torch import Tensor

from curvecast.curve import Direction, check_direction, clean_points, resolve_bounds
from curvecast.errors import InvalidConfigError, InvalidCurveError, ShapeError
from curvecast.pfn.encoding import PFNInput, hparam_features
from curvecast.prediction import ZMap, _kept_mass, quantiles
from curvecast.predictor import Predictor, _Task
from curvecast.priors.batch import CONFIG_FIELDS, N_HPARAMS
from curvecast.run import CleanRun, Run, check_enough_context
from curvecast.bo.space import SearchSpace

__all__ = ["PFNModel", "PFNPosterior", "load_bo_predictor"]


def load_bo_predictor() -> Predictor:
    """The shipped model for tuning loops (``curvecast/models/bo``, see its README), or the default model
    where a build lacks it."""
    from curvecast.predictor import load, shipped_model_or_default

    return load(shipped_model_or_default("bo"))

_GRID = 64  # quantile levels behind the posterior mean and variance


@dataclass(frozen=True)
class _Observed:
    """A run the model reads: its encoded config ``u`` (``d``) and its points under the rules of
    :func:`curvecast.curve.clean_points` (NaN dropped, sorted, repeated x averaged)."""

    u: np.ndarray
    x: np.ndarray
    y: np.ndarray
    name: str


def _observed(space: SearchSpace, runs: Sequence[Run]) -> list[_Observed]:
    if isinstance(runs, (str, bytes, Run)) or not isinstance(runs, Sequence):
        raise InvalidCurveError(f"runs must be a list of curvecast.Run, got {type(runs).__name__}")
    out = []
    for i, run in enumerate(runs):
        if not isinstance(run, Run):
            raise InvalidCurveError(f"runs[{i}] must be a curvecast.Run, got {type(run).__name__}")
        try:
            x, y = clean_points(run.x, run.y, min_points=0)
        except ValueError as exc:  # name the culprit in a long list
            raise type(exc)(f"runs[{i}]: {exc}") from None
        u = space.encode([run.config or {}])[0]
        out.append(_Observed(u, x, y, run.name or f"run {i}"))
    return out


class PFNModel(Model):
    """BoTorch model of a run's value at ``target_budget`` as a function of its config.

    Args:
        space: the search space (a :class:`~curvecast.bo.SearchSpace` or the dict that makes one).
        runs: the runs so far (:class:`curvecast.Run` with ``config`` in the space; partial curves welcome,
            runs without points are ignored). At least 3 observed points in all.
        target_budget: the x at which ``posterior`` predicts (e.g. the full training length).
        direction: ``"min"`` (losses; outputs are negated) or ``"max"``.
        predictor: the PFN (default: :func:`load_bo_predictor`, the shipped model for tuning loops, ``curvecast/models/bo``).
        reserve_runs: places kept free in each pass for the points ``posterior`` asks about (the ``q`` of a
            joint posterior; 1 by default): the context holds at most ``max_runs - reserve_runs`` runs.

    The PFN reads at most ``predictor.max_runs`` runs and ``predictor.max_curve_runs`` curves per pass;
    with more runs, it reads the best ones by their last observed value (:attr:`context`).
    """

    _num_outputs = 1

    def __init__(
        self,
        space: SearchSpace | dict,
        runs: Sequence[Run],
        *,
        target_budget: float,
        direction: Direction = "min",
        predictor: Predictor | None = None,
        reserve_runs: int = 1,
    ) -> None:
        super().__init__()
        self.space = space if isinstance(space, SearchSpace) else SearchSpace(space)
        self.sign = check_direction(direction)
        self.direction = direction
        if isinstance(target_budget, bool) or not isinstance(target_budget, (int, float)) or not 0 < target_budget < math.inf:
            raise InvalidCurveError(f"target_budget must be a positive finite x, got {target_budget!r}")
        self.target_budget = float(target_budget)
        if predictor is None:
            predictor = load_bo_predictor()
        self.predictor = predictor
        predictor.model.requires_grad_(False)  # gradients flow to X only
        observed = [r for r in _observed(self.space, runs) if r.x.size]
        self.context = self._choose(observed, reserve_runs)
        clean = [self._clean(r) for r in self.context]
        check_enough_context(clean)
        self._clean_runs = clean
        all_y = np.concatenate([r.y for r in self.context])
        self.bounds = resolve_bounds("auto", all_y, self.sign)
        self._points = predictor._budget_points(clean, warn=False)
        # Oriented for BoTorch (larger is better).
        self._orient = -1.0 if self.sign > 0 else 1.0
        best = min(float(np.min(self.sign * r.y)) for r in self.context) * self.sign  # the best y, either direction
        #: The best observed value, oriented like the outputs (for ``qLogExpectedImprovement(best_f=...)``).
        self.best_f = self._orient * float(best)

    # -- which runs to read --------------------------------------------------------------------------

    def _choose(self, runs: list[_Observed], reserve: int) -> list[_Observed]:
        """The runs read: curves and single points, best last value first, within the model's limits."""
        max_runs = self.predictor.max_runs - reserve
        max_curves = self.predictor.max_curve_runs - reserve
        order = sorted(runs, key=lambda r: self.sign * r.y[-1])
        curves = [r for r in order if r.x.size > 1][: max(max_curves, 0)]
        singles = [r for r in order if r.x.size == 1][: max(max_runs - len(curves), 0)]
        kept = {id(r) for r in curves + singles}
        return [r for r in runs if id(r) in kept]

    def _clean(self, r: _Observed) -> CleanRun:
        return CleanRun(x=r.x, y=r.y, config=np.full(len(CONFIG_FIELDS), np.nan), name=r.name)

    def _slots(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """``... x d`` encoded configs -> ``... x N_HPARAMS`` slot values and mask (the modelled columns)."""
        k = len(self.space.modelled_columns)
        values = torch.zeros(*u.shape[:-1], N_HPARAMS, dtype=u.dtype, device=u.device)
        values = torch.cat([u[..., self.space.modelled_columns], values[..., k:]], dim=-1)
        mask = torch.zeros(N_HPARAMS, dtype=torch.bool, device=u.device)
        mask[:k] = True
        return values, mask.expand_as(values)

    # -- forward passes ------------------------------------------------------------------------------

    def _sequence(self, new_runs: list[np.ndarray], continued: dict[int, np.ndarray]) -> tuple[PFNInput, ZMap, list[np.ndarray], list[np.ndarray]]:
        """One token sequence: the context runs (queried at ``continued[i]``) and ``len(new_runs)`` runs not
        started, queried at ``new_runs[j]``. Returns the tokens, the y map, and the query positions of the
        context runs and of the new runs."""
        n_ctx = len(self._clean_runs)
        placeholders = [CleanRun(np.zeros(0), np.zeros(0), np.full(len(CONFIG_FIELDS), np.nan), name=f"new {j}") for j in range(len(new_runs))]
        runs = self._clean_runs + placeholders
        if len(runs) > self.predictor.model.config.max_runs:
            raise InvalidCurveError(
                f"{n_ctx} runs read plus {len(new_runs)} new ones exceed the model's {self.predictor.model.config.max_runs} run ids; use a "
                f"smaller q, or build the model with reserve_runs={len(new_runs)} so that its context leaves room for them"
            )
        u = np.stack([r.u for r in self.context])
        values, mask = self._slots(torch.from_numpy(u))
        hparams = np.concatenate([values.numpy(), np.zeros((len(new_runs), N_HPARAMS))])
        hmask = np.concatenate([mask.numpy(), np.zeros((len(new_runs), N_HPARAMS), dtype=bool)])
        queries = [np.asarray(continued.get(i, np.zeros(0)), dtype=np.float64) for i in range(n_ctx)] + list(new_runs)
        task = _Task(runs, self._points + [np.zeros(0, dtype=np.int64)] * len(new_runs), queries, hparams, hmask, self.sign, self.bounds)
        inp, norm, _, (positions,) = self.predictor._encode_tasks([task])
        low = torch.tensor([self.bounds[0]], dtype=torch.float64, device=inp.z.device)
        high = torch.tensor([self.bounds[1]], dtype=torch.float64, device=inp.z.device)
        zmap = ZMap.build(norm.y_loc.double(), norm.y_scale.double(), norm.sign.double(), low, high).index(0)
        return inp, zmap, positions[:n_ctx], positions[n_ctx:]

    def _with_hparams(self, inp: PFNInput, positions: Tensor, u: Tensor) -> PFNInput:
        """``inp`` (``R x L``) with the free-hyperparameter features at token ``positions[r, j]`` set from
        ``u[r, j]`` (``R x J x d``): differentiable in ``u``."""
        values, mask = self._slots(u)
        feats = hparam_features(values, mask)  # R x J x F
        rows = torch.arange(inp.hparams.shape[0], device=u.device)[:, None].expand_as(positions)
        hparams = inp.hparams.index_put((rows, positions), feats.to(inp.hparams.dtype))
        return dataclasses.replace(inp, hparams=hparams)

    def _logits(self, inp: PFNInput, *, observed: bool) -> Tensor:
        """Logits of every token at the temperature of new runs (``observed=False``) or of continued ones."""
        return self.predictor.model(inp).float() / self.predictor.runs_temperature(observed=observed)

    def marginal_logits(self, u: Tensor | None, x_new: np.ndarray, continued: dict[int, np.ndarray] | None = None) -> tuple[Tensor, list[Tensor], ZMap]:
        """Logits of new configs ``u`` (``n x d``) at ``x_new`` (``n``) and of context runs at ``continued``.

        All new configs share one placeholder run: queries never attend to each other, so each is its own
        posterior predictive given the context, and thousands cost one forward pass.
        Returns ``n x K`` logits, one ``m_i x K`` tensor per continued run (in ``continued``'s order) and the y map.
        """
        continued = continued or {}
        x_new = np.asarray(x_new, dtype=np.float64).reshape(-1)
        inp, zmap, ctx_pos, new_pos = self._sequence([x_new] if x_new.size else [], continued)
        if x_new.size:
            pos = torch.from_numpy(new_pos[0]).to(inp.z.device)[None]
            inp = self._with_hparams(inp, pos, u.reshape(1, -1, self.space.dim).to(inp.hparams.device))
        logits = self.predictor.model(inp).float()[0]  # L x K, before temperatures
        new = logits[torch.from_numpy(new_pos[0])] / self.predictor.runs_temperature(observed=False) if x_new.size else logits[:0]
        cont = [logits[torch.from_numpy(ctx_pos[i])] / self.predictor.runs_temperature(observed=True) for i in continued]
        return new, cont, zmap

    def draw(self, logits: Tensor, u: Tensor, zmap: ZMap) -> Tensor:
        """Reparameterised draws in y: the predictive quantile at level ``u`` (``...``) of each ``... x K`` logits."""
        bar = self.predictor.model.bar_distribution
        lo, hi = _kept_mass(bar, logits, zmap)
        level = torch.where(zmap.sign > 0, u, 1.0 - u)
        q = (lo + level.to(lo.dtype) * (hi - lo)).clamp(1e-6, 1.0 - 1e-6)
        z = bar.icdf(logits, q[..., None].float())[..., 0].double()
        z = torch.maximum(torch.minimum(z, zmap.z_high), zmap.z_low)
        return zmap.y(z)

    def joint_draws(self, u: Tensor, levels: Tensor) -> Tensor:
        """Joint draws in y at ``target_budget`` of ``q`` new runs per batch element.

        Args:
            u: ``B x q x d`` configs.
            levels: ``S x B x q`` uniform levels (the base samples through ``Phi``).

        Returns:
            ``S x B x q`` draws; draw ``j`` is conditioned on the context and on draws ``0..j-1``.
        """
        b, q, _ = u.shape
        s = levels.shape[0]
        inp, zmap, _, new_pos = self._sequence([np.array([self.target_budget])] * q, {})
        pos = torch.from_numpy(np.concatenate(new_pos)).to(inp.z.device)  # q
        rows = s * b
        inp = inp.map(lambda v: v.expand(rows, *v.shape[1:]))
        u_rows = u.repeat(s, 1, 1).to(inp.hparams.device)  # (S*B) x q x d, row = s * B + b
        inp = self._with_hparams(inp, pos[None].expand(rows, -1), u_rows)
        lv = levels.reshape(rows, q)
        z, is_ctx = inp.z, inp.is_context
        draws = []
        for j in range(q):
            logits = self._logits(inp.with_context(z, is_ctx), observed=False)[:, pos[j]]  # rows x K
            y_j = self.draw(logits, lv[:, j], zmap)
            draws.append(y_j)
            at_j = torch.zeros_like(is_ctx)
            at_j[:, pos[j]] = True
            z = torch.where(at_j, zmap.z(y_j)[:, None].to(z.dtype), z)
            is_ctx = is_ctx | at_j
        return torch.stack(draws, -1).view(s, b, q)

    # -- BoTorch Model interface ---------------------------------------------------------------------

    @property
    def num_outputs(self) -> int:
        return 1

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size([])

    def posterior(self, X: Tensor, output_indices: list[int] | None = None, observation_noise: Any = False, posterior_transform: Any = None, **kwargs: Any) -> "PFNPosterior":
        """Posterior at ``X`` (``batch x q x d``, or ``q x d``) of the (oriented) value at ``target_budget``."""
        if output_indices not in (None, [0]):
            raise ShapeError(f"PFNModel has one output; output_indices must be None or [0], got {output_indices}")
        if X.ndim < 2 or X.shape[-1] != self.space.dim:
            raise ShapeError(f"X must be batch x q x {self.space.dim} (the encoded search space), got {tuple(X.shape)}")
        if not bool(torch.isfinite(X).all()):  # the encoding would read NaN as "unknown hyperparameter", silently
            raise InvalidConfigError("X holds NaN or infinite values; pass points of the unit cube (space.bounds)")
        posterior = PFNPosterior(self, X)
        if posterior_transform is not None:
            return posterior_transform(posterior)
        return posterior

    def condition_on_observations(self, X: Tensor, Y: Tensor, **kwargs: Any) -> Model:
        raise NotImplementedError("PFNModel conditions on runs, not on (X, Y) pairs: build a new PFNModel with the new runs")

    def transform_inputs(self, X: Tensor, input_transform: Any = None) -> Tensor:
        return X


class PFNPosterior(Posterior):
    """The PFN's predictive distribution at ``X`` (``batch x q x d``): marginals from one forward pass, joint
    samples by autoregression. Event shape ``batch x q x 1``."""

    def __init__(self, model: PFNModel, X: Tensor) -> None:
        self.model = model
        self.X = X
        flat = X.reshape(-1, X.shape[-1])
        logits, _, zmap = model.marginal_logits(flat, np.full(flat.shape[0], model.target_budget))
        self._logits = logits.view(*X.shape[:-1], -1)  # batch x q x K
        self._zmap = zmap
        self._quantiles = None

    @property
    def device(self) -> torch.device:
        return self.X.device

    @property
    def dtype(self) -> torch.dtype:
        return self.X.dtype

    def _extended_shape(self, sample_shape: torch.Size = torch.Size()) -> torch.Size:  # noqa: B008
        return torch.Size(sample_shape) + self.X.shape[:-1] + torch.Size([1])

    @property
    def base_sample_shape(self) -> torch.Size:
        return self.X.shape[:-1] + torch.Size([1])

    @property
    def batch_range(self) -> tuple[int, int]:
        return (0, -2)

    def _grid(self) -> Tensor:
        if self._quantiles is None:
            levels = (torch.arange(_GRID, dtype=torch.float64) + 0.5) / _GRID
            self._quantiles = quantiles(self.model.predictor.model.bar_distribution, self._logits, self._zmap, levels)  # batch x q x G
        return self._quantiles

    @property
    def mean(self) -> Tensor:
        """``batch x q x 1`` predictive mean (oriented: negated for ``direction="min"``) of the distribution's
        body: the mean of its quantiles at the :data:`_GRID` levels ``(i + 0.5) / 64``, which leaves out the
        outer 1/128 of each tail (see :attr:`variance`)."""
        return (self.model._orient * self._grid().mean(-1))[..., None].to(self.dtype)

    @property
    def variance(self) -> Tensor:
        """``batch x q x 1`` predictive variance of the distribution's body: the variance of its quantiles at
        the levels ``(i + 0.5) / 64``. The PFN's predictive tails are heavy (they hold runs that diverge), so
        the full variance is dominated by draws far from the bulk (measured on a toy sweep: 148 against 0.13
        here); an analytic acquisition (``LogExpectedImprovement``, ``UpperConfidenceBound``) reading it would
        chase them. Monte-Carlo acquisitions (``qLogExpectedImprovement``) read :meth:`rsample`, which draws
        from the whole distribution."""
        return self._grid().var(-1)[..., None].to(self.dtype)

    def quantile(self, value: Tensor) -> Tensor:
        """Oriented marginal quantiles at levels ``value`` (``Q``): ``Q x batch x q x 1``."""
        levels = torch.as_tensor(value, dtype=torch.float64).reshape(-1)
        if self.model._orient < 0:
            levels = 1.0 - levels  # a high quantile of -loss is a low quantile of the loss
        qs = quantiles(self.model.predictor.model.bar_distribution, self._logits, self._zmap, levels)
        return (self.model._orient * qs).movedim(-1, 0)[..., None].to(self.dtype)

    def rsample(self, sample_shape: torch.Size | None = None) -> Tensor:
        shape = torch.Size(sample_shape or torch.Size([1]))
        base = torch.randn(shape + self.base_sample_shape, dtype=self.dtype, device=self.device)
        return self.rsample_from_base_samples(shape, base)

    def rsample_from_base_samples(self, sample_shape: torch.Size, base_samples: Tensor) -> Tensor:
        """``sample_shape x batch x q x 1`` oriented samples; ``base_samples`` are standard normal."""
        shape = torch.Size(sample_shape)
        base = base_samples.expand(shape + self.base_sample_shape)[..., 0]  # sample x batch x q
        levels = (0.5 * torch.erfc(-base.double() / math.sqrt(2.0))).clamp(1e-6, 1.0 - 1e-6)
        q = self.X.shape[-2]
        if q == 1:
            y = self.model.draw(self._logits[..., 0, :].expand(*levels.shape[:-1], -1), levels[..., 0], self._zmap)[..., None]
        else:
            batch = self.X.shape[:-2]
            n_b = int(np.prod(batch)) if len(batch) else 1
            n_s = int(np.prod(shape)) if len(shape) else 1
            y = self.model.joint_draws(self.X.reshape(n_b, q, -1), levels.reshape(n_s, n_b, q))
            y = y.reshape(*shape, *batch, q)
        return (self.model._orient * y)[..., None].to(self.dtype)


@GetSampler.register(PFNPosterior)
def _get_sampler_pfn(posterior: PFNPosterior, sample_shape: torch.Size, *, seed: int | None = None) -> SobolQMCNormalSampler:
    """Quasi-Monte-Carlo normal base samples, mapped through the PFN's quantile function."""
    return SobolQMCNormalSampler(sample_shape=sample_shape, seed=seed)
