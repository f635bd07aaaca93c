"""Lightning callbacks: checkpoints for resuming, throughput and MFU."""

from gptlab.callbacks.checkpoint import LastCheckpoint
from gptlab.callbacks.throughput import ThroughputMonitor, peak_flops

__all__ = ["LastCheckpoint", "ThroughputMonitor", "peak_flops"]
