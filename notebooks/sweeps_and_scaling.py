# %% [markdown]
# # Runs that inform each other: a size sweep, free hyperparameters, and a scaling table
#
# A percent-format notebook (open it in Jupyter with jupytext, or run it as a script; CI runs it).
# 1. Four finished Gemstones runs of smaller models and the first evaluations of a 1.9B model: how will the
#    large run end? (`predict(..., runs=...)`)
# 2. Predict several runs at once and draw their trajectories jointly (`predict_runs`); a run not started,
#    from the others' final values read as a scaling table (`curvecast.scaling.fit_runs`); a run part seen, its
#    own forecast pooled with that reading (`curvecast.scaling.predict_final`); a token sweep whose every point
#    ended a run of its own (`points="all"`).
# 3. A table of isoFLOP runs (Porian et al. 2024): the compute-optimal size for a budget twice the largest
#    in the table (`curvecast.scaling`).
# 4. One isoFLOP profile, part swept: the losses of the larger sizes (`config={"isoflop": C}`).

# %%
import csv
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import curvecast

examples = Path(__file__).resolve().parents[1] / "examples"
out_dir = Path(tempfile.mkdtemp())
model = curvecast.load()

# %% [markdown]
# ## 1. A size sweep: how will the largest run end?
# `examples/gemstones_sweep.csv` is a long CSV: one row per evaluation, a `run` column, and the run's config
# (`n_params`) as another column.

# %%
runs: dict[str, dict] = {}
with open(examples / "gemstones_sweep.csv") as f:
    for row in csv.DictReader(line for line in f if not line.startswith("#")):
        r = runs.setdefault(row["run"], {"x": [], "y": [], "config": {"n_params": float(row["n_params"])}})
        r["x"].append(float(row["x"]))
        r["y"].append(float(row["y"]))
target = runs.pop("2048x27")
others = [curvecast.Run(r["x"], r["y"], r["config"], name=name) for name, r in runs.items()]
x_query = np.linspace(target["x"][-1], 83475, 12)[1:]

alone = model.predict(target["x"], target["y"], x_query, config=target["config"])
swept = model.predict(target["x"], target["y"], x_query, config=target["config"], runs=others)
for name, pred in (("alone", alone), ("with the sweep", swept)):
    lo, hi = pred.interval(0.9)
    print(f"{name:>15}: final loss median {pred.median[-1]:.3f}, 90% interval [{lo[-1]:.3f}, {hi[-1]:.3f}]")
print("the run actually ended at 2.491 (step 83475)")
assert np.isfinite(swept.median).all()

fig, ax = plt.subplots(figsize=(7, 4))
for run in others:
    ax.plot(run.x, run.y, color="0.6", lw=0.8)
swept.plot(ax)
ax.set_title("Gemstones 2048x27: forecast given four smaller finished runs")
fig.savefig(out_dir / "sweep.png")

# %% [markdown]
# ## 2. Several runs at once, with joint samples
# A run not started yet (a config only) next to the finished ones; every run gets a prediction, and
# `sample` draws all runs' trajectories jointly (row k of every array is one joint draw). Of a run it has
# seen nothing of, the shipped model is pessimistic: it keeps some probability that the run is mis-tuned, so
# its median for a larger model can sit above the smaller ones' (BENCHMARKS.md measures this bias).

# %%
new = curvecast.Run([], [], {"n_params": 3e9}, name="3B, not started")
preds = model.predict_runs([*others, new], x_query)
paths = preds.sample(200, seed=0)
final_new = paths[-1][:, -1]
print(f"3B run: final loss median {np.median(final_new):.3f}; P(below 2.5) = {np.mean(final_new < 2.5):.2f}")
assert len(preds) == len(others) + 1 and paths[-1].shape == (200, x_query.size)

# %% [markdown]
# How the 1.9B run would end if it had not started is also a scaling-table question: each finished run is a
# row at its size and the tokens it trained on, its final value the loss (`scaling.fit_runs`). On real size
# ladders this forecasts held-out larger runs' final values better than `predict(..., runs=...)` with nothing
# of them seen (BENCHMARKS.md, "A sweep's finished curves read as a table"). Here four rows say little about
# the spread: the median lands near the truth, the band is wide.

# %%
tokens_per_step = 4_194_304  # Gemstones: 2,048 sequences of 2,048 tokens per step
finished = [curvecast.Run(r.x, r.y, {**r.config, "n_tokens": r.x[-1] * tokens_per_step}, name=r.name) for r in others]
ends = curvecast.scaling.fit_runs(finished)
as_table = ends.predict(target["config"]["n_params"], 83475 * tokens_per_step)
as_runs = model.predict([], [], [83475], config=target["config"], runs=others)
for name, pred in (("fit_runs", as_table), ("predict(runs=)", as_runs)):
    lo, hi = pred.interval(0.9)
    print(f"{name:>15}: 1.9B run not started, final loss median {pred.median[0]:.3f}, 90% interval [{lo[0]:.3f}, {hi[0]:.3f}]")
assert as_table.interval(0.9)[0][0] < as_table.median[0] < as_table.interval(0.9)[1][0]

# %% [markdown]
# For the 1.9B run as it stands, part seen, `scaling.predict_final` pools the two: the run's own forecast given
# the sweep, and the sweep read as a table, the own forecast weighted by how much of the run has been seen
# (the weights were chosen on hold-outs the benchmark does not score: the tables model's
# `calibration.pool_weight`). The result answers like a `Prediction`.

# %%
under_way = curvecast.Run(target["x"], target["y"], {**target["config"], "n_tokens": 83475 * tokens_per_step}, name="2048x27")
final = curvecast.scaling.predict_final(under_way, finished, 83475)
lo, hi = final.interval(0.9)
print(f"predict_final: 1.9B run {target['x'][-1] / 83475:.0%} seen, weights (own, table) {np.round(final.weights, 2).tolist()}: "
      f"final loss median {final.median[0]:.3f}, 90% interval [{lo[0]:.3f}, {hi[0]:.3f}]")
assert lo[0] < final.median[0] < hi[0] and abs(final.weights.sum() - 1.0) < 1e-12

# %% [markdown]
# Where every point of a run ended a run of its own (one size trained to several token counts, each with its own
# schedule, as in Gadre et al. 2024's overtraining grid), `points="all"` reads each point as a table row, the
# target's own points included. `examples/gadre_token_sweep.csv`: x is tokens; the 1.4B model's 115B-token run
# ended at 2.472.

# %%
sweep: dict[str, dict] = {}
with open(examples / "gadre_token_sweep.csv") as f:
    for row in csv.DictReader(line for line in f if not line.startswith("#")):
        run = sweep.setdefault(row["run"], {"x": [], "y": [], "n_params": float(row["n_params"])})
        run["x"].append(float(row["x"]))
        run["y"].append(float(row["y"]))
smaller = [curvecast.Run(r["x"], r["y"], {"n_params": r["n_params"], "n_tokens": r["x"][-1]}, name=name) for name, r in sweep.items() if name != "1.4b"]
big = sweep["1.4b"]
big_run = curvecast.Run(big["x"], big["y"], {"n_params": big["n_params"], "n_tokens": 115184435200.0}, name="1.4b")
for points in ("last", "all"):
    pred = curvecast.scaling.predict_final(big_run, smaller, 115184435200.0, points=points)
    lo, hi = pred.interval(0.9)
    print(f"token sweep, points={points!r}: 1.4B at 115B tokens median {pred.median[0]:.3f}, 90% [{lo[0]:.3f}, {hi[0]:.3f}] (ended at 2.472)")
rows = curvecast.scaling.fit_runs(smaller, points="all")
assert rows.loss.size == sum(len(r["x"]) for name, r in sweep.items() if name != "1.4b")  # every point a row

# %% [markdown]
# ## 3. A scaling table: the compute-optimal model for a larger budget
# Each row is a finished run observed only at its end: model size N, tokens D, final loss. This table holds
# 11 isoFLOP profiles, so `optimum` extrapolates their minima (`best.method == "isoflop"`; 43 of 45 held-out
# Porian budgets inside the 90% interval, BENCHMARKS.md); `method="pfn"` asks the network's isoFLOP curve
# (43 of 45 with `curvecast/models/tables`, the network `curvecast.scaling` reads tables with).

# %%
table = {"N": [], "D": [], "loss": []}
with open(examples / "porian_isoflop.csv") as f:
    for row in csv.DictReader(line for line in f if not line.startswith("#")):
        for key in table:
            table[key].append(float(row[key]))
law = curvecast.scaling.fit(table["N"], table["D"], table["loss"])
best = law.optimum(2.56e19)
lo, hi = best.interval("n_params", 0.9)
print(f"C = 2.56e19 ({best.method}): N_opt {best.n_params:.3g} (90% [{lo:.3g}, {hi:.3g}]), D_opt {best.n_tokens:.3g}, loss {best.loss:.3f}")
print("the held-out 2.56e19 budget's best run: N = 6.1e8, loss 3.097")
ax = law.plot([2.56e19])
ax.figure.savefig(out_dir / "isoflop.png")

# %% [markdown]
# ## 4. One isoFLOP profile, part swept: read it as the table it is
# The losses of a size sweep at one budget are finished runs (D = C / 6N each), not a learning curve: past the
# compute-optimal size they rise. `config={"isoflop": C}` says so (BENCHMARKS.md: on Porian's 177 profiles the
# median final error falls below the last observed value's only when they are read this way).

# %%
sizes, losses = [], []
with open(examples / "porian_isoflop_profile.csv") as f:
    for row in csv.DictReader(line for line in f if not line.startswith("#")):
        sizes.append(float(row["n_params"]))
        losses.append(float(row["loss"]))
larger = [4.55e8, 6.12e8, 9.02e8]  # ended at 3.338, 3.408, 3.621
as_table = model.predict(sizes, losses, larger, config={"isoflop": 6.4e18})
as_curve = model.predict(sizes, losses, larger)
for name, pred in (("as a table", as_table), ("as a curve", as_curve)):
    lo, hi = pred.interval(0.9)
    print(f"{name}: N = 9.02e8 forecast {pred.median[-1]:.3f} (90% [{lo[-1]:.3f}, {hi[-1]:.3f}]); it ended at 3.621")
assert as_table.median[-1] > as_curve.median[-1]  # the table reading expects the rise
print("wrote", out_dir / "sweep.png", "and", out_dir / "isoflop.png")
