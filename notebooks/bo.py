# %% [markdown]
# # Which trial next? Freeze-thaw Bayesian optimisation with the PFN
#
# A percent-format notebook (open it in Jupyter with jupytext, or run it as a script; CI runs it).
# We tune a small scikit-learn MLP on the bundled digits data: 5 hyperparameters of mixed type, epochs as
# the budget, validation log-loss as the metric. `curvecast.bo.minimize` asks the PFN, at every step,
# whether to train a paused run one more epoch or to start a new configuration, and keeps every trial in
# an SQLite file, so a killed loop picks up where it stopped.

# %%
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from curvecast import bo

out_dir = Path(tempfile.mkdtemp())
digits = load_digits()
x_train, x_val, y_train, y_val = train_test_split(digits.data, digits.target, test_size=0.3, random_state=0, stratify=digits.target)
scaler = StandardScaler().fit(x_train)
x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
classes = np.unique(y_train)

space = {
    "learning_rate_init": bo.Float(1e-4, 3e-1, log=True),
    "alpha": bo.Float(1e-6, 1e-1, log=True),
    "hidden": bo.Int(8, 256, log=True),
    "activation": bo.Categorical(["relu", "tanh", "logistic"]),
    "batch_size": bo.Int(16, 512, log=True),
}

# %% [markdown]
# The objective trains `config` up to `budget` epochs and returns the points it observed. Its third
# argument is what it returned last time for this trial (here the classifier itself), so a continued trial
# resumes instead of starting over.

# %%
def objective(config, budget, state):
    if state is None:
        clf = MLPClassifier(
            hidden_layer_sizes=(config["hidden"],),
            activation=config["activation"],
            alpha=config["alpha"],
            batch_size=config["batch_size"],
            learning_rate_init=config["learning_rate_init"],
            random_state=0,
        )
        state = {"clf": clf, "losses": []}
    while len(state["losses"]) < budget:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            state["clf"].partial_fit(x_train, y_train, classes=classes)
        state["losses"].append(log_loss(y_val, state["clf"].predict_proba(x_val), labels=classes))
    epochs = np.arange(1, len(state["losses"]) + 1)
    return epochs, np.array(state["losses"]), state


# %% [markdown]
# ## Run the loop
# `max_budget=10` epochs is a full run; `total_budget=60` epochs is six full runs' worth.

# %%
storage = out_dir / "digits.db"
opt = bo.minimize(objective, space, max_budget=10, total_budget=60, seed=0, storage=storage, progress=False)
best = opt.best()
print(f"{len(opt.trials())} trials, {opt.budget_used:g} epochs spent")
print("recommended:", best.config, f"predicted final log-loss {best.predicted:.4f}")

# %% [markdown]
# ## Restart from storage
# A new `Optimizer` (or `minimize`) on the same file sees every trial; here we spend 10 more epochs.

# %%
opt = bo.minimize(objective, space, max_budget=10, total_budget=70, storage=storage, progress=False)
print(f"after the restart: {len(opt.trials())} trials, {opt.budget_used:g} epochs spent")

# %% [markdown]
# ## What it chose to continue, and how the best value moved
# Left: every trial's curve; runs the loop continued past their first epochs are drawn solid. Right:
# simple regret of the recommendation against the budget spent, where the reference is the best
# final log-loss among the loop's complete trials and 8 Sobol configurations trained fully.

# %%
trials = opt.trials()
finals: dict[int, float] = {}
cache: dict[tuple, float] = {}


def final_value(config):
    key = tuple(sorted(config.items()))
    if key not in cache:
        cache[key] = float(objective(config, 10, None)[1][-1])
    return cache[key]


reference = [final_value(c) for c in bo.SearchSpace(space).decode(bo.SearchSpace(space).sample(8, seed=1))]
best_known = min(reference + [final_value(t.config) for t in trials if t.state == "complete"])

history = opt.storage.ask_history()
spent = np.cumsum([to - frm for _, frm, to in history])
# Replay the recommendation after every ask (an Optimizer reading the same file, stopped at each step).
regret = []
replay = bo.Optimizer(space, max_budget=10, predictor=opt.predictor)
told: dict[int, int] = {}
by_id = {t.id: t for t in trials}
for step, (tid, _, to) in enumerate(history):
    t = by_id[tid]
    if tid not in told:
        told[tid] = replay.add(t.config, t.x[t.x <= to], t.y[t.x <= to]).id
    else:
        replay.storage.add_points(told[tid], t.x[t.x <= to], t.y[t.x <= to])
        replay.storage.update_trial(told[tid], budget=to, state="complete" if to >= 10 else "paused")
    regret.append(final_value(replay.best().config) - best_known)

fig, (ax_curves, ax_regret) = plt.subplots(1, 2, figsize=(11, 4))
for t in trials:
    continued = t.x.size > 2
    ax_curves.plot(t.x, t.y, "-" if continued else ":", lw=1.6 if continued else 0.8, alpha=0.9 if continued else 0.5)
ax_curves.set_yscale("log")
ax_curves.set_xlabel("epoch")
ax_curves.set_ylabel("validation log-loss")
ax_curves.set_title(f"{len(trials)} trials; {sum(t.x.size > 2 for t in trials)} continued past epoch 2")
ax_regret.plot(spent, np.maximum(regret, 1e-4), drawstyle="steps-post")
ax_regret.set_yscale("log")
ax_regret.set_xlabel("epochs spent")
ax_regret.set_ylabel("simple regret (log-loss)")
ax_regret.set_title("regret of opt.best()")
fig.tight_layout()
fig.savefig(out_dir / "bo.png", dpi=110)
print("figure:", out_dir / "bo.png", "final regret", regret[-1])
assert np.isfinite(regret).all()
