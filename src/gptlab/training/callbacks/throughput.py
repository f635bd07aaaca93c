"""Tokens seen, tokens/s, MFU and peak GPU memory, without waiting for the GPU.

Lightning's own ThroughputMonitor synchronizes the GPU after every batch and does not know every
card (the H200 among them). On a GPU this one records a CUDA event at each logging step and reports
a window once its closing event has passed, at a later logging step, under the window's own step:
the GPU's queue never drains for it. On a CPU it reads the clock at the logging step.

The windows count training only: time spent in validation, checkpoint snapshots and text samples
(:func:`exclude_from_throughput`) is taken out of the window it fell in; validation's own time is
logged as ``perf/val_s``.
"""

from __future__ import annotations

import logging
import time

import lightning as L
import torch

from gptlab.runtime.devices import host_scalar
from gptlab.training.steps import OptimizerSteps, logging_step, row_step

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
        self._tokens_per_step = 0
        self._flops_per_token = 0
        self.steps = OptimizerSteps()
        self.excluded_s = 0.0  # time of this window that was not training
        self._paused_at: float | None = None
        # one mark per logging step: (CUDA event or clock, step, excluded seconds before it)
        self._marks: list[tuple[torch.cuda.Event | float, int, float]] = []
        self.tokens_per_s: float | None = None  # of the newest window reported
        self.results: dict[str, float] = {}  # train.py adds these to the run's final metrics

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
        self._marks = []
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
        self.results = {"train/tokens": float(step * self._tokens_per_step)}  # exact at the end
        if not logging_step(trainer, step):
            return  # LightningModule.log costs ~0.4 ms of host time: only where Lightning logs
        tokens = host_scalar(step * self._tokens_per_step)  # on the host: logging it costs no sync
        pl_module.log("train/tokens", tokens, on_step=True, on_epoch=False, rank_zero_only=True)
        on_gpu = trainer.strategy.root_device.type == "cuda"
        if on_gpu:
            memory = host_scalar(torch.cuda.max_memory_allocated() / 2**30)  # no sync
            pl_module.log("perf/peak_memory_gib", memory, on_step=True, on_epoch=False,
                          rank_zero_only=True)  # fmt: skip
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self._marks.append((event, step, self.excluded_s))
        else:
            self._marks.append((time.perf_counter(), step, self.excluded_s))
        self.excluded_s = 0.0
        # report every window whose closing mark has passed (on a CPU: the one just closed)
        while len(self._marks) >= 2 and _passed(self._marks[1][0]):
            (start, first, _), (end, last, excluded) = self._marks[0], self._marks[1]
            self._marks.pop(0)
            self._report(trainer, pl_module, last, _seconds(start, end) - excluded, last - first)
        # CPU tensors: a Python number would be copied to the GPU, a blocking copy
        bar = {} if pl_module.host_loss is None else {"loss": host_scalar(pl_module.host_loss)}
        if self.tokens_per_s is not None:
            bar["tok/s"] = host_scalar(self.tokens_per_s)
        pl_module.log_dict(
            bar, prog_bar=True, logger=False, on_step=True, on_epoch=False, rank_zero_only=True
        )

    def _report(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        step: int,
        seconds: float,
        steps: int,
    ) -> None:
        """tokens/s and MFU of the window of ``steps`` steps that ended at ``step``."""
        self.tokens_per_s = steps * self._tokens_per_step / max(seconds, 1e-9)
        metrics = {"perf/tokens_per_s": self.tokens_per_s}
        if self._peak:
            achieved = self.tokens_per_s * self._flops_per_token / trainer.world_size
            metrics["perf/mfu"] = achieved / self._peak
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=row_step(step))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """The windows the GPU had not finished at the last logging step: reported now."""
        while len(self._marks) >= 2:
            (start, first, _), (end, last, excluded) = self._marks[0], self._marks[1]
            self._marks.pop(0)
            if isinstance(end, torch.cuda.Event):
                end.synchronize()
            self._report(trainer, pl_module, last, _seconds(start, end) - excluded, last - first)
        self._marks = []

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
                logger.log_metrics({"perf/val_s": seconds}, step=row_step(trainer.global_step))


def _passed(mark: torch.cuda.Event | float) -> bool:
    return not isinstance(mark, torch.cuda.Event) or mark.query()


def _seconds(start: torch.cuda.Event | float, end: torch.cuda.Event | float) -> float:
    if isinstance(start, torch.cuda.Event):
        return start.elapsed_time(end) / 1000  # milliseconds of the GPU's timeline
    return end - start


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
