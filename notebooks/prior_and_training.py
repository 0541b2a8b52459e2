# %% [markdown]
# # A tour of the curvecast engine: prior samples, a tiny PFN, joint trajectory samples
#
# A percent-format notebook (open it with Jupyter via jupytext, or run it as a script; CI runs it).
# It draws tasks from the default prior, trains a tiny PFN for a few dozen steps on the CPU, and draws
# joint samples of the rest of a partial curve.

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from curvecast import priors
from curvecast.pfn import encode_task_batch, sample_joint
from curvecast.training import preset, train

out_dir = Path(tempfile.mkdtemp())

# %% [markdown]
# ## 1. What the model learns from
# Each task is one training setup with several runs; runs follow shared scaling laws.

# %%
prior = priors.default()
priors.check_prior(prior, n_tasks=16)
batch = prior.sample(6, generator=torch.Generator().manual_seed(0))
fig, axes = plt.subplots(2, 3, figsize=(12, 6))
for task, ax in enumerate(axes.flat):
    for run in range(batch.n_runs):
        m = batch.point_mask[task, run]
        if m.any():
            ax.plot(batch.x[task, run, m], batch.y[task, run, m], ".-", ms=3)
    ax.set_title(f"task {task} ({'min' if batch.direction[task] > 0 else 'max'})")
fig.tight_layout()
fig.savefig(out_dir / "prior.png")

# %% [markdown]
# ## 2. Train a tiny PFN (a few dozen steps: a demo, not a useful model)

# %%
config = preset("tiny").replace(steps=40, out_dir=str(out_dir / "run"), progress=False, eval_every=40, checkpoint_every=40)
result = train(config)
print("final metrics:", {k: round(v, 3) for k, v in result.final_metrics.items() if isinstance(v, float)})

# %% [markdown]
# ## 3. Joint samples of the rest of a curve
# Observe the first 40% of one prior curve, then sample whole future trajectories.

# %%
one = priors.SimplePowerLawPrior(n_points=24, min_points=24).sample(1, generator=torch.Generator().manual_seed(1))
is_context = torch.zeros_like(one.point_mask)
is_context[..., :10] = True
inp, norm, _, _ = encode_task_batch(one, is_context)
is_query = inp.valid & ~inp.is_context
samples_z = sample_joint(result.model, inp, is_query, inp.features[..., 0], 20, generator=torch.Generator().manual_seed(2))
samples_y = norm.y_inverse(samples_z[:, 0])  # 20 x 24, in the curve's own units
assert torch.isfinite(samples_y).all()
fig, ax = plt.subplots(figsize=(6, 4))
x = one.x[0, 0]
for s in samples_y:
    ax.plot(x[10:], s[10:], color="C1", alpha=0.3)
ax.plot(x, one.y[0, 0], "k.", label="truth")
ax.axvline(x[9], color="grey", ls=":")
ax.legend()
fig.savefig(out_dir / "samples.png")
print("wrote", out_dir / "prior.png", "and", out_dir / "samples.png")
