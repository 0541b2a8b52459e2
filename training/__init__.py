"""Pretraining pipeline: ``train(TrainConfig)``, presets, the context/query split and resumable state."""

from curvecast.training.config import PRESETS, TrainConfig, finetune, load_config, preset
from curvecast.training.loop import TrainResult, train
from curvecast.training.split import SplitPolicy, sample_split

__all__ = ["TrainConfig", "TrainResult", "train", "preset", "finetune", "PRESETS", "load_config", "SplitPolicy", "sample_split"]
