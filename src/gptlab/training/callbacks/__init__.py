"""Lightning callbacks: checkpoints for resuming, throughput and MFU, text samples, progress, a target
loss, HellaSwag."""

from gptlab.checkpoints.best import BestCheckpoint
from gptlab.checkpoints.last import LastCheckpoint
from gptlab.training.callbacks.hellaswag import HellaSwag
from gptlab.training.callbacks.progress import StepProgressBar
from gptlab.training.callbacks.samples import TextSamples
from gptlab.training.callbacks.target import TargetLoss
from gptlab.training.callbacks.throughput import ThroughputMonitor, peak_flops

__all__ = [
    "BestCheckpoint",
    "HellaSwag",
    "LastCheckpoint",
    "StepProgressBar",
    "TargetLoss",
    "TextSamples",
    "ThroughputMonitor",
    "peak_flops",
]
