"""Lightning callbacks: checkpoints for resuming, throughput and MFU, text samples."""

from gptlab.callbacks.checkpoint import LastCheckpoint
from gptlab.callbacks.samples import TextSamples
from gptlab.callbacks.throughput import ThroughputMonitor, peak_flops

__all__ = ["LastCheckpoint", "TextSamples", "ThroughputMonitor", "peak_flops"]
