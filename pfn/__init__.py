"""The transformer PFN: tokens, model, bar-distribution head, joint sampling and checkpoints."""

from curvecast.pfn.bar_distribution import BarDistribution, borders_from_samples
from curvecast.pfn.checkpoint import load_model, save_model
from curvecast.pfn.encoding import PFNInput, encode, encode_task_batch
from curvecast.pfn.model import PFN, ModelConfig
from curvecast.pfn.normalization import Normalization
from curvecast.pfn.sampling import sample_joint

__all__ = [
    "BarDistribution",
    "borders_from_samples",
    "ModelConfig",
    "PFN",
    "PFNInput",
    "Normalization",
    "encode",
    "encode_task_batch",
    "sample_joint",
    "save_model",
    "load_model",
]
