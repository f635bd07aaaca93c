"""Lightning callbacks: throughput and MFU, text samples."""

from gptlab.callbacks.throughput import ThroughputMonitor, peak_flops

__all__ = ["ThroughputMonitor", "peak_flops"]
