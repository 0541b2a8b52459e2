# %% [markdown]
# # Quickstart: partial curve -> fan chart -> stop or continue?
#
# A percent-format notebook (open it in Jupyter with jupytext, or run it as a script; CI runs it).
# It loads the model shipped inside the package (no download), predicts the rest of a real training run
# from its first half, draws the fan chart, and turns the prediction into a stopping decision.

# %%
import json
import tempfile
from importlib import resources
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import curvecast

out_dir = Path(tempfile.mkdtemp())
model = curvecast.load()  # the shipped default model, on the CPU
print(model)

# %% [markdown]
# ## 1. A partial curve
# A real GPT-2-small validation-loss curve from the modded-nanogpt speedrun logs (MIT licence), one of the
# sample curves that ship with curvecast. We pretend the run is half done.

# %%
curves = json.loads((resources.files("curvecast") / "data" / "dev_curves.json").read_text())
run = next(c for c in curves if c["source"] == "modded_nanogpt")
x_all, y_all = np.array(run["x"], dtype=float), np.array(run["y"], dtype=float)
half = len(x_all) // 2
x, y = x_all[:half], y_all[:half]
x_query = x_all[half:]
print(f"observed {half} of {len(x_all)} evaluations, up to step {x[-1]:g}; last loss {y[-1]:.3f}")

# %% [markdown]
# ## 2. Predict the rest
# `direction="min"` because lower loss is better. What is known about the run (here, its planned length)
# goes into `config`; the x-unit fields are in the same units as `x` (steps here).

# %%
pred = model.predict(x, y, x_query, direction="min", config={"total_steps": float(x_all[-1])})
lower, upper = pred.interval(0.9)
print(f"final loss: median {pred.median[-1]:.3f}, 90% interval [{lower[-1]:.3f}, {upper[-1]:.3f}], truth {y_all[-1]:.3f}")
print("NLL of the held-out points:", float(-pred.logpdf(y_all[half:]).mean()))

# %% [markdown]
# ## 3. The fan chart
# Shaded bands are central 50/80/90% intervals; thin lines are joint sampled trajectories.

# %%
ax = pred.plot(n_samples=5, seed=0)
ax.plot(x_all[half:], y_all[half:], "x", color="C3", ms=4, label="held out (truth)")
ax.legend(fontsize="small")
ax.figure.savefig(out_dir / "fan_chart.png", dpi=110)
plt.close(ax.figure)

# %% [markdown]
# ## 4. Stop or continue?
# Say an earlier record run finished at a loss of `target`. Continue only if this run has a fair chance of
# beating it: `cdf(target)` at the last step is P(final loss <= target).

# %%
earlier = [c for c in curves if c["source"] == "modded_nanogpt" and c is not run][0]
target = float(earlier["y"][-1])
p_beat = float(pred.cdf(target)[-1])
decision = "continue" if p_beat >= 0.2 else "stop"
print(f"P(final loss <= {target:.3f}) = {p_beat:.2f} -> {decision}")

# Joint samples answer questions about whole paths, e.g. the chance the run is below target by 75% of training.
paths = pred.sample(200, seed=0)
j = int(np.searchsorted(x_query, 0.75 * x_all[-1]))
print(f"P(loss <= {target:.3f} already at step {x_query[min(j, len(x_query) - 1)]:g}) = {np.mean(paths[:, min(j, len(x_query) - 1)] <= target):.2f}")

# %% [markdown]
# ## 5. Many curves at once
# `predict_many` batches curves of any lengths; here every shipped sample curve, observed up to 40%.

# %%
batch = []
for c in curves:
    n_obs = max(3, int(0.4 * len(c["x"])))
    batch.append(curvecast.Curve(c["x"][:n_obs], c["y"][:n_obs], c["x"][n_obs:], direction=c["direction"]))
preds = model.predict_many(batch)
for c, p in zip(curves, preds):
    lo, hi = p.interval(0.9)
    inside = np.mean((np.array(c["y"][-len(p.x):]) >= lo) & (np.array(c["y"][-len(p.x):]) <= hi))
    print(f"{c['source']:15s} {c['direction']}  final: median {p.median[-1]:8.4f}  truth {c['y'][-1]:8.4f}  90% coverage {inside:.2f}")
print(f"figures in {out_dir}")
