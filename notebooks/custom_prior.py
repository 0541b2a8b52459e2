# %% [markdown]
# # Your own prior: write it, check it, fine-tune the shipped model on it, predict
#
# A percent-format notebook (open it with Jupyter via jupytext, or run it as a script; CI runs it).
# The shipped model learned from a prior of loss and accuracy curves of supervised training. Suppose your
# curves are episode returns of reinforcement-learning agents: noisy, rising, often flat for a while before
# the agent finds the reward. Here we write that prior, check it, mix it with the built-in one so the model
# keeps what it knew, fine-tune the shipped model on the mixture for a few dozen steps on the CPU (a demo:
# use ~1,000 steps, `curvecast train --init default`, for a useful model), and predict with the result.

# %%
import tempfile
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import curvecast
from curvecast import priors
from curvecast.priors import CONFIG_FIELDS, TaskBatch
from curvecast.training import finetune, train

out_dir = Path(tempfile.mkdtemp())

# %% [markdown]
# ## 1. Write the prior
# A prior is a plain object whose `sample(n_tasks, *, generator, device, n_points=None)` returns a
# `TaskBatch` of shape `n_tasks x n_runs x n_points`, drawing all its randomness from `generator`.


# %%
@dataclass(frozen=True)
class RLReturnsPrior:
    """Episode returns (higher is better): flat at ``start`` until a random onset, then a saturating rise to
    ``start + gain``, with noise whose scale is ``noise`` times the gain. One to three runs (seeds) per task."""

    n_points: int = 40
    max_runs: int = 3
    gain_range: tuple[float, float] = (10.0, 500.0)
    noise_range: tuple[float, float] = (0.02, 0.15)

    def sample(self, n_tasks, *, generator, device="cpu", n_points=None):
        p, r = n_points or self.n_points, self.max_runs

        def uniform(low, high, *shape):
            return low + (high - low) * torch.rand(*shape, generator=generator, device=device)

        start = uniform(-100.0, 50.0, n_tasks, 1, 1)
        gain = uniform(*self.gain_range, n_tasks, 1, 1)
        onset = uniform(0.0, 0.6, n_tasks, r, 1)
        rate = uniform(2.0, 12.0, n_tasks, r, 1)
        noise = uniform(*self.noise_range, n_tasks, 1, 1) * gain
        t = torch.linspace(1 / p, 1, p, device=device).expand(n_tasks, r, p)
        y = start + gain * (1 - torch.exp(-rate * (t - onset).clamp_min(0)))
        y = y + noise * torch.randn(n_tasks, r, p, generator=generator, device=device)
        present = torch.arange(r, device=device) < torch.randint(1, r + 1, (n_tasks, 1), generator=generator, device=device)
        config = torch.zeros(n_tasks, r, len(CONFIG_FIELDS), device=device)
        return TaskBatch(
            x=t * 1e5,  # environment steps
            y=y,
            point_mask=present[..., None].expand(n_tasks, r, p).clone(),
            config=config,
            config_mask=torch.zeros_like(config, dtype=torch.bool),
            direction=-torch.ones(n_tasks, dtype=torch.int8, device=device),
        )


# %% [markdown]
# ## 2. Check it
# `check_prior` raises a `PriorCheckError` naming the rule a prior breaks (shapes, masks, sorted x, finite
# values, seeding, the global RNG left alone). The same check runs from the shell:
# `curvecast check-prior --prior-file my_prior.py:RLReturnsPrior`.

# %%
rl = RLReturnsPrior()
priors.check_prior(rl)
batch = rl.sample(6, generator=torch.Generator().manual_seed(0))
fig, axes = plt.subplots(2, 3, figsize=(12, 6))
for task, ax in enumerate(axes.flat):
    for run in range(batch.n_runs):
        m = batch.point_mask[task, run]
        if m.any():
            ax.plot(batch.x[task, run, m], batch.y[task, run, m], ".-", ms=3)
fig.tight_layout()
fig.savefig(out_dir / "rl_prior.png")

# %% [markdown]
# ## 3. Mix it with the built-in prior and fine-tune the shipped model
# `priors.Mixture` draws each task from one component by weight, so the model keeps seeing the curves it
# knows. `finetune("default")` is the shipped model's architecture and split, a lower learning rate and
# `init="default"` (its weights); `train(config, prior=...)` checks the prior first.

# %%
mixture = priors.Mixture([(rl, 3.0), (priors.default(), 1.0)])
priors.check_prior(mixture)
config = finetune("default").replace(steps=40, warmup_steps=5, border_tasks=256, eval_tasks=32, eval_every=40, checkpoint_every=40, out_dir=str(out_dir / "rl"), progress=False)
result = train(config, prior=mixture)
print(f"fine-tuned for {result.steps} steps in {result.wall_time_s:.0f} s: {result.final_metrics.get('eval_prior_nll'):.3f} NLL on fresh prior samples")

# %% [markdown]
# Runs you have already logged can join the mix as they are: `priors.CurveBank` replays `(x, y, direction)`
# curves as tasks of one run each, with x and y moved by a random scale and shift, so the model learns their
# shapes rather than their units. (Here a few prior draws stand in for logged runs.)

# %%
logged = [(batch.x[t, 0].numpy(), batch.y[t, 0].numpy(), "max") for t in range(batch.n_tasks)]
with_logged = priors.Mixture([(rl, 3.0), (priors.CurveBank(logged), 1.0), (priors.default(), 1.0)])
priors.check_prior(with_logged)
print(with_logged)

# %% [markdown]
# ## 4. Predict with the result
# The run folder is a checkpoint: `curvecast.load(folder)` (or `curvecast predict --model folder`).

# %%
tuned = curvecast.load(config.out_dir)
shipped = curvecast.load()
held_out = rl.sample(16, generator=torch.Generator().manual_seed(123))  # tasks training never saw
seen = 16
for name, model in (("shipped", shipped), ("fine-tuned", tuned)):
    errors, inside = [], []
    for task in range(held_out.n_tasks):
        x, y = held_out.x[task, 0].numpy(), held_out.y[task, 0].numpy()
        pred = model.predict(x[:seen], y[:seen], x[seen:], direction="max")
        low, high = pred.interval(0.9)
        errors.append(abs(pred.median[-1] - y[-1]) / (y.max() - y.min()))
        inside.append(np.mean((low <= y[seen:]) & (y[seen:] <= high)))
    print(f"{name:>10}: final-return error {np.mean(errors):.3f} (in units of each run's range); 90% bands hold {np.mean(inside):.0%} of the rest")
# 40 steps is a smoke test; benchmarks/finetune.py measures 800 steps (README: "Your own prior").
ax = pred.plot()
ax.plot(x[seen:], y[seen:], "k.", ms=3, label="truth")
ax.legend()
ax.figure.savefig(out_dir / "rl_forecast.png")
print("figures in", out_dir)
