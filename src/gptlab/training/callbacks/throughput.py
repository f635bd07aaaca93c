"""Tokens seen, tokens/s, MFU, gradient norm and peak GPU memory, without a host sync per step.

Lightning's own ThroughputMonitor synchronizes the GPU after every batch and does not know every
card (the H200 among them). This one reads the clock only at logging steps, where Lightning already
waits for the logged loss, so the step loop stays asynchronous.

The windows count training only: time spent in validation, checkpoint snapshots and text samples
(:func:`exclude_from_throughput`) is taken out of the window it fell in; validation's own time is
logged as ``perf/val_s``.
"""

from __future__ import annotations

import logging
import time

import lightning as L
import torch

from gptlab.training.runtime import host_scalar
from gptlab.training.steps import OptimizerSteps

log = logging.getLogger(__name__)

# dense (no sparsity) peak TFLOP/s per GPU for bf16/fp16 and for tf32 matmuls, from the datasheets
_PEAKS: list[tuple[str, float, float]] = [
    # substring of torch.cuda.get_device_name(), bf16, tf32
    ("H200", 989.0, 494.5),
    ("GH200", 989.0, 494.5),
    ("H100 NVL", 835.0, 417.5),
    ("H100 PCIe", 756.0, 378.0),
    ("H100", 989.0, 494.5),  # SXM (e.g. "NVIDIA H100 80GB HBM3")
    ("H800", 989.0, 494.5),
    ("A100", 312.0, 156.0),
    ("A800", 312.0, 156.0),
    ("L40S", 362.0, 183.0),
    ("L4", 121.0, 60.0),
    ("A10G", 70.0, 35.0),
    ("A10", 125.0, 62.5),
    ("RTX 4090", 165.2, 82.6),
    ("RTX 3090", 71.0, 35.6),
    ("V100", 125.0, 0.0),
    ("T4", 65.0, 0.0),
]


def peak_flops(device_name: str, precision: str) -> float | None:
    """Datasheet peak FLOP/s of one GPU for the training precision, or None if the card is unknown."""
    uses_tf32 = str(precision).startswith("32")
    for key, bf16, tf32 in _PEAKS:
        if key in device_name:
            peak = tf32 if uses_tf32 else bf16
            return peak * 1e12 if peak else None
    return None


class ThroughputMonitor(L.Callback):
    """Logs ``train/tokens``, ``perf/tokens_per_s``, ``perf/mfu`` and ``perf/peak_memory_gib``
    every ``trainer.log_every_n_steps`` optimizer steps (the module logs ``train/grad_norm``).

    ``peak_tflops`` overrides the datasheet table (per GPU), for cards it does not know.
    """

    def __init__(self, peak_tflops: float | None = None) -> None:
        self.peak_tflops = peak_tflops
        self._peak: float | None = None
        self._window_start: tuple[float, int] | None = None  # (time, global step)
        self._tokens_per_step = 0
        self._flops_per_token = 0
        self.steps = OptimizerSteps()
        self.excluded_s = 0.0  # time of this window that was not training
        self._paused_at: float | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flops_per_token = pl_module.model.flops_per_token()
        if self.peak_tflops:
            self._peak = self.peak_tflops * 1e12
        elif trainer.strategy.root_device.type == "cuda":
            name = torch.cuda.get_device_name(trainer.strategy.root_device)
            self._peak = peak_flops(name, trainer.precision)
            if self._peak is None:
                log.warning(
                    "MFU unknown: no peak FLOP/s for %r; set callbacks.throughput.peak_tflops", name
                )
        self._window_start = None
        self.steps.start(trainer)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        if not self._tokens_per_step:
            inputs = batch[0]
            self._tokens_per_step = (
                inputs.numel() * trainer.world_size * trainer.accumulate_grad_batches
            )
        step = trainer.global_step
        if not self.steps.stepped(trainer):
            return
        tokens = host_scalar(step * self._tokens_per_step)  # on the host: logging it costs no sync
        pl_module.log("train/tokens", tokens, on_step=True, on_epoch=False, rank_zero_only=True)
        if step % trainer.log_every_n_steps:
            return
        metrics: dict[str, float] = {}
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()  # once per logging window, not per step
            metrics["perf/peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
        now = time.perf_counter()
        if self._window_start is not None and step > self._window_start[1]:
            seconds = max(now - self._window_start[0] - self.excluded_s, 1e-9)
            tokens_per_s = (step - self._window_start[1]) * self._tokens_per_step / seconds
            metrics["perf/tokens_per_s"] = tokens_per_s
            if self._peak:
                achieved = tokens_per_s * self._flops_per_token / trainer.world_size
                metrics["perf/mfu"] = achieved / self._peak
        self._window_start = (now, step)
        self.excluded_s = 0.0
        pl_module.log_dict(metrics, on_step=True, on_epoch=False, rank_zero_only=True)
        # for the progress bar: plain floats read here, where Lightning already waits for the loss
        bar = {"loss": float(outputs["loss"]) if isinstance(outputs, dict) else float(outputs)}
        if "perf/tokens_per_s" in metrics:
            bar["tok/s"] = metrics["perf/tokens_per_s"]
        pl_module.log_dict(
            bar, prog_bar=True, logger=False, on_step=True, on_epoch=False, rank_zero_only=True
        )

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._paused_at = synchronized_clock(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._paused_at is None:
            return
        seconds = synchronized_clock(trainer) - self._paused_at
        self._paused_at = None
        self.excluded_s += seconds
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics({"perf/val_s": seconds}, step=trainer.global_step)


def synchronized_clock(trainer: L.Trainer) -> float:
    """The time once the GPU has finished the work queued so far (the boundary of a pause)."""
    if trainer.strategy.root_device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def exclude_from_throughput(trainer: L.Trainer, seconds: float) -> None:
    """Take ``seconds`` (work other than training, e.g. text samples) out of the current window."""
    for callback in trainer.callbacks:
        if isinstance(callback, ThroughputMonitor):
            callback.excluded_s += seconds
