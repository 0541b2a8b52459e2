"""Fine-tuning priors that mix the shipped synthetic prior with real curves the benchmarks do not score.

    curvecast train --init default --prior-file benchmarks/real_curve_bank.py:PRIOR --steps 3000 --seed 61 --out runs/bank
    curvecast train --init default --prior-file benchmarks/real_curve_bank.py:PRIOR_NON_LLM --steps 1500 --seed 62 --out runs/bank_non_llm

Each factory builds ``Mixture([(shipped synthetic prior, 0.8), (CurveBank(real curves), 0.2)])``: the synthetic
prior with the shipped model's ``prior_overrides``, and a :class:`curvecast.priors.CurveBank` of usable curves of
``../shared/data/realcurves`` that neither ``benchmarks/realcurves.py`` (its 300 per source, seed 0) nor the
validation split of ``benchmarks/calibrate.py`` (100 per source, seed 1) reads, at most ``PER_SOURCE`` per
source (seeded). ``PRIOR`` takes LCDB, MLPerf, modded-nanogpt and Pythia; ``PRIOR_NON_LLM`` only LCDB and MLPerf,
so that every LLM source stays unseen; ``PRIOR_BALANCED`` LCDB, MLPerf and Pythia's downstream accuracies, one
third of the bank's share each (modded-nanogpt's near-identical seeds left out, so it stays unseen);
``PRIOR_ISOFLOP`` is ``PRIOR_BALANCED`` with ``ISOFLOP_WEIGHT`` of the synthetic share given to
:class:`curvecast.priors.IsoFlopProfilePrior` (isoFLOP profiles as curves, x = model size); ``PRIOR_LATE_STARTS`` is ``PRIOR_BALANCED`` with half of the bank's
curves replayed from a later point on (``CurveBank.p_late_start``: logs that start well into a run); ``PRIOR_FAST_PROGRESS`` (the
shipped model's recipe) gives the synthetic part faster early progress, ``PRIOR_ISOFLOP_U`` adds U-shaped isoFLOP tables to it
(``isoflop_data_beta_range``) and ``PRIOR_QUIET_SWEEPS`` quiet size ladders (``p_quiet_sweep``). Results in BENCHMARKS.md
("Real curves in the training mix", "isoFLOP profiles in the training mix").
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from curvecast import priors

HERE = Path(__file__).resolve().parent
#: Curves of one source in the bank, at most (a seeded subset).
PER_SOURCE = 1500
#: Share of training tasks drawn from the bank.
BANK_WEIGHT = 0.2
BANK_SEED = 7
#: Share of training tasks drawn from :class:`curvecast.priors.IsoFlopProfilePrior` in ``PRIOR_ISOFLOP``.
ISOFLOP_WEIGHT = 0.04
#: Share of bank curves replayed from a later point on in ``PRIOR_LATE_STARTS``.
LATE_START_SHARE = 0.5


def _calibrate_module():
    """``benchmarks/calibrate.py`` (it loads ``realcurves.py`` as its ``rc``); the folder is not a package."""
    if "calibrate_benchmark" not in sys.modules:
        spec = importlib.util.spec_from_file_location("calibrate_benchmark", HERE / "calibrate.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["calibrate_benchmark"] = module
        spec.loader.exec_module(module)
    return sys.modules["calibrate_benchmark"]


def bank_curves(sources: tuple[str, ...], data: Path | None = None) -> dict[str, list[tuple[np.ndarray, np.ndarray, str]]]:
    """Per source, the ``(x, y, direction)`` curves neither benchmark reads (x shifted to start at 0 or later)."""
    cal = _calibrate_module()
    rc = cal.rc
    out = {}
    for source, curves in rc.load_curves(data or rc.DEFAULT_DATA, list(sources)).items():
        held = {(c.curve_id, c.metric_name) for c in rc.select_curves(curves, cal.BENCHMARK_MAX_CURVES, cal.BENCHMARK_SEED)}
        held |= {(c.curve_id, c.metric_name) for c in cal.validation_curves(curves, cal.VALIDATION_MAX_CURVES, cal.VALIDATION_SEED)}
        rest = [c for c in curves if rc.usable(c) and (c.curve_id, c.metric_name) not in held]
        if len(rest) > PER_SOURCE:
            rest = [rest[i] for i in sorted(np.random.default_rng(BANK_SEED).choice(len(rest), PER_SOURCE, replace=False))]
        # rc.usable already asks for finite points, strictly increasing x and a non-zero range (what CurveBank
        # checks); only MLPerf's epoch -1 needs moving, as realcurves.py shifts it.
        out[source] = [(c.x - min(c.x[0], 0.0), c.y, c.direction) for c in rest]
    return out


def mixture(
    sources: tuple[str, ...],
    *,
    balanced: bool = False,
    isoflop_weight: float = 0.0,
    late_start: float = 0.0,
    synthetic_overrides: dict | None = None,
) -> priors.Mixture:
    """The shipped synthetic prior (its overrides) mixed with a bank of ``sources``' unscored curves: one bank of
    all of them (each curve equally likely), or with ``balanced`` one bank per source sharing ``BANK_WEIGHT``
    equally (each source equally likely, so a source of 136 curves is not drowned by one of 1,500). A positive
    ``isoflop_weight`` moves that share of tasks from the synthetic prior to isoFLOP profiles; a positive
    ``late_start`` replays that share of bank curves from a later point on (``CurveBank.p_late_start``);
    ``synthetic_overrides`` change the synthetic prior's parameters on top of the shipped ones."""
    shipped = json.loads((HERE.parent / "curvecast" / "models" / "default" / "config.json").read_text())
    synthetic = priors.named("default", **{**shipped["training"]["train"]["prior_overrides"], **(synthetic_overrides or {})})
    per_source = bank_curves(sources)
    print("curve bank:", {k: len(v) for k, v in per_source.items()}, file=sys.stderr)
    if balanced:
        banks = [(priors.CurveBank(v, n_points=synthetic.n_points, p_late_start=late_start), BANK_WEIGHT / len(per_source)) for v in per_source.values()]
    else:
        banks = [(priors.CurveBank([t for v in per_source.values() for t in v], n_points=synthetic.n_points, p_late_start=late_start), BANK_WEIGHT)]
    isoflop = [(priors.IsoFlopProfilePrior(n_points=synthetic.n_points), isoflop_weight)] if isoflop_weight > 0 else []
    return priors.Mixture([(synthetic, 1.0 - BANK_WEIGHT - isoflop_weight), *banks, *isoflop])


def PRIOR() -> priors.Mixture:  # upper case: a factory named as --prior-file expects
    return mixture(("lcdb", "mlperf_training", "modded_nanogpt", "pythia"))


def PRIOR_NON_LLM() -> priors.Mixture:
    return mixture(("lcdb", "mlperf_training"))


def PRIOR_BALANCED() -> priors.Mixture:
    return mixture(("lcdb", "mlperf_training", "pythia"), balanced=True)


def PRIOR_ISOFLOP() -> priors.Mixture:
    return mixture(("lcdb", "mlperf_training", "pythia"), balanced=True, isoflop_weight=ISOFLOP_WEIGHT)


def PRIOR_LATE_STARTS() -> priors.Mixture:
    return mixture(("lcdb", "mlperf_training", "pythia"), balanced=True, late_start=LATE_START_SHARE)


def PRIOR_FAST_PROGRESS() -> priors.Mixture:
    """``PRIOR_BALANCED`` with faster early progress in its synthetic part (``tau_end_range`` (30, 1e6), the
    recipe of ``benchmarks/configs/gpu_progress.json``; BENCHMARKS.md, "How firm the target counts are")."""
    return mixture(("lcdb", "mlperf_training", "pythia"), balanced=True, synthetic_overrides={"tau_end_range": (30.0, 1e6)})


def PRIOR_ISOFLOP_U() -> priors.Mixture:
    """``PRIOR_FAST_PROGRESS`` whose isoFLOP tables carry an explicit data term (``isoflop_data_beta_range``
    (0.3, 1.5)), so their profiles are U-shaped around the design's optimum as real ones are
    (``benchmarks/isoflop_shape.py``; BENCHMARKS.md, "What is left")."""
    return mixture(("lcdb", "mlperf_training", "pythia"), balanced=True,
                   synthetic_overrides={"tau_end_range": (30.0, 1e6), "isoflop_data_beta_range": (0.3, 1.5)})


def PRIOR_QUIET_SWEEPS() -> priors.Mixture:
    """``PRIOR_FAST_PROGRESS`` whose size sweeps are mostly quiet ladders (``p_quiet_sweep`` 0.9: every run at
    its optimal lr, a table's noise), so that their final values follow model size as closely as real sweeps'
    do (``benchmarks/sweep_smoothness.py``: interpolation gap median 0.04 against 0.12, real 0.04-0.06)."""
    return mixture(("lcdb", "mlperf_training", "pythia"), balanced=True,
                   synthetic_overrides={"tau_end_range": (30.0, 1e6), "p_quiet_sweep": 0.9})
