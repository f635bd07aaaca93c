"""The LightningModule: a GPT trained on next-token prediction.

It holds the model and the run's parts that act on every step, each in its own module: the
kernels (:mod:`gptlab.kernels`, chosen in ``setup`` once the device is known), the optimizer and
schedule (:mod:`gptlab.optim`), the non-finite guard (:mod:`gptlab.training.numerics`) and the one
writer of metric rows (:mod:`gptlab.training.metrics`, ``module.metrics``, which callbacks read).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import lightning as L
import torch
from torchmetrics import MeanMetric

from gptlab.kernels import KernelConfig, Kernels, prepare
from gptlab.kernels.compiler import compile_for_batch_sizes
from gptlab.model import GPT, GPTConfig
from gptlab.optim.build import build_optimizer, build_scheduler
from gptlab.optim.config import OptimConfig
from gptlab.training.metrics import StepMetrics
from gptlab.training.numerics import NonFiniteSteps, nonfinite_tensors, seed_step, step_seed
from gptlab.training.window import WindowSchedule


class GPTModule(L.LightningModule):
    """Trains a :class:`~gptlab.model.GPT`.

    Takes plain values (or the dataclasses), so checkpoints hold only plain hyperparameters and
    ``GPTModule.load_from_checkpoint`` works without Hydra. ``model``: the architecture;
    ``optim``: optimizer and schedule; ``kernels``: how it is run; ``nonfinite``: what a step with
    a non-finite loss or gradient norm does (``skip`` or ``stop``); ``seed``: each micro-batch's
    random state (dropout) is derived from it and the step, so a resumed run draws what the
    uninterrupted run drew; ``peak_tflops``: per GPU, for MFU on cards gptlab does not know;
    ``attn_window_start``, ``attn_window_growth``: the sliding window's schedule
    (:mod:`gptlab.training.window`).
    """

    def __init__(
        self,
        model: GPTConfig | dict[str, Any],
        optim: OptimConfig | dict[str, Any] | None = None,
        kernels: KernelConfig | dict[str, Any] | None = None,
        nonfinite: str = "skip",
        seed: int | None = None,
        peak_tflops: float | None = None,
        attn_window_start: int | None = None,
        attn_window_growth: float = 1.0,
    ) -> None:
        super().__init__()
        self.model_config = model if isinstance(model, GPTConfig) else GPTConfig.from_dict(model)
        self.optim_config = (
            optim if isinstance(optim, OptimConfig) else OptimConfig.from_dict(optim or {})
        )
        self.kernel_config = (
            kernels if isinstance(kernels, KernelConfig) else KernelConfig.from_dict(kernels or {})
        )
        self.seed = seed
        self.save_hyperparameters(  # plain values only, so load_from_checkpoint needs no Hydra
            {
                "model": self.model_config.to_dict(),
                "optim": asdict(self.optim_config),
                "kernels": self.kernel_config.to_dict(),
                "nonfinite": nonfinite,
                "seed": seed,
                "peak_tflops": peak_tflops,
                "attn_window_start": attn_window_start,
                "attn_window_growth": attn_window_growth,
            }
        )
        self.window_schedule = WindowSchedule.of(  # checked against the model's window
            attn_window_start, attn_window_growth, self.model_config, self.optim_config
        )
        self.model = GPT(self.model_config)
        self.nonfinite = NonFiniteSteps(nonfinite)
        self.metrics = StepMetrics(peak_tflops)
        self.metrics.subscribers.append(self._check_skips)
        self.kernels: Kernels | None = None
        self.val_loss, self.val_bytes = MeanMetric(), MeanMetric()
        self.test_loss, self.test_bytes = MeanMetric(), MeanMetric()
        self._byte_table: torch.Tensor | None = None  # UTF-8 bytes of each token id, on the device
        self._window_loss: torch.Tensor | None = None  # summed micro-batch losses since a row
        self._window_batches = 0
        self._step_loss: torch.Tensor | None = None
        self._step_norm: torch.Tensor | None = None
        self.last_validated_step: int | None = None  # the final validation is skipped if current
        self.stop_reason: str | None = None  # "signal", "target" or "nonfinite" when stopped early

    # --- set-up --------------------------------------------------------------------------------

    def setup(self, stage: str) -> None:
        """The kernels for this device, once (``setup`` runs for fit, validate, test, ...)."""
        if self.kernels is None:
            self.kernels = prepare(
                self.model, self.kernel_config, self.trainer.strategy.root_device
            )

    def teardown(self, stage: str) -> None:
        if self.kernels is not None:  # the next run in this process starts from PyTorch's kernels
            self.kernels.release()
            self.kernels = None

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The mean next-token loss, the way the kernels chose (the plain model before ``setup``)."""
        if self.kernels is None:
            return self.model(inputs, targets)
        with self.kernels.attention_context():
            return self.kernels.loss(inputs, targets)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model(idx)

    # --- training ------------------------------------------------------------------------------

    def on_train_start(self) -> None:
        self.metrics.start(self.trainer, self.model.flops_per_token(), self._take_scalars)
        schedule = self.metrics.batch_schedule  # each size's graph compiled before the clock
        if schedule is not None and self.kernels is not None and self.kernels.compiled:
            with torch.enable_grad(), self.trainer.precision_plugin.train_step_context():
                compile_for_batch_sizes(self.loss, schedule.sizes, self.model)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.metrics.batch_start(self.trainer)
        if self.window_schedule is not None:  # a function of the step: a resume computes it again
            self.model.set_attn_window(self.window_schedule.at(self.global_step, self.trainer))
        if self.seed is not None:
            seed_step(
                step_seed(self.seed, self.global_rank, self.global_step, batch_idx), self.device
            )

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        inputs, targets = batch
        loss = self.loss(inputs, targets)
        detached = loss.detach()
        self._step_loss = detached
        self._window_loss = detached if self._window_loss is None else self._window_loss + detached
        self._window_batches += 1
        return loss

    def _take_scalars(self) -> dict[str, torch.Tensor]:
        """The device values of a metrics row: the mean loss over every micro-batch since the last
        row, the last step's gradient norm, the skipped steps so far."""
        values = {"train/skipped_steps": self.nonfinite.skipped}
        if self._window_loss is not None:
            values["train/loss"] = self._window_loss / max(self._window_batches, 1)
        if self._step_norm is not None:
            values["train/grad_norm"] = self._step_norm
        self._window_loss, self._window_batches = None, 0
        return values

    def _learning_rates(self) -> dict[str, float]:
        rates = self.lr_schedulers().get_last_lr()
        values = {"lr": rates[0]}
        if rates[-1] != rates[0]:  # optim=muon: the AdamW side's rate too
            values["lr_adamw"] = rates[-1]
        return values

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        trainer = self.trainer
        self.metrics.batch_end(trainer, batch, self._learning_rates)
        if not self.metrics.step_ended(trainer):
            return
        if not trainer.log_every_n_steps and self.global_step % 50 == 0:  # no rows: check anyway
            self._check_skips(
                self.global_step, {"train/skipped_steps": int(self.nonfinite.skipped)}
            )
        if 0 < trainer.max_steps <= self.global_step:
            # stopping at the last step makes Lightning validate inside fit, so the final
            # validation is one like the others: logged at this step, a candidate for the best
            # checkpoint and for the target loss
            trainer.should_stop = True

    def on_train_end(self) -> None:
        self.metrics.end(self.trainer)
        if self.window_schedule is not None:  # what follows (tests, samples) sees the model's own
            self.model.set_attn_window(self.window_schedule.final)

    def _check_skips(self, step: int, row: dict[str, float]) -> None:
        skipped = row.get("train/skipped_steps")
        if skipped is not None and self.nonfinite.counted(int(skipped)):
            self.stop_reason = "nonfinite"
            self.trainer.should_stop = True  # last.ckpt is written when training ends

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip by global norm (``trainer.gradient_clip_val``) here rather than in Lightning's
        precision plugins (they refuse fused AdamW under bf16 autocast and norm clipping under
        FSDP), keep the norm before clipping for the metrics, and skip the update if it or the
        loss is not finite."""
        max_norm = gradient_clip_val or float("inf")  # inf: measure the norm, change nothing
        if gradient_clip_algorithm not in (None, "norm"):
            super().configure_gradient_clipping(
                optimizer, gradient_clip_val, gradient_clip_algorithm
            )
            max_norm = float("inf")
        root = self.trainer.strategy.model
        if hasattr(root, "clip_grad_norm_"):  # FSDP: the norm is taken over every shard
            norm = root.clip_grad_norm_(max_norm)
        else:
            norm = torch.nn.utils.clip_grad_norm_(self.parameters(), max_norm)
        self._step_norm = norm.detach()
        if self.trainer.precision != "16-mixed":  # the GradScaler skips overflowing steps itself
            self.nonfinite.guard(optimizer, norm, self._step_loss, self.global_step)

    def configure_optimizers(self) -> dict[str, Any]:
        # fused: one kernel for all parameters on GPUs. Not with fp16 loss scaling, where the
        # gradients must be unscaled before clipping and fused AdamW unscales only inside its step.
        fused = self.device.type == "cuda" and self.trainer.precision != "16-mixed"
        compiled = self.kernels is not None and self.kernels.compiled  # Muon's step too
        optimizer = build_optimizer(self.model, self.optim_config, fused, compiled)
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = build_scheduler(optimizer, self.optim_config, total)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    # --- validation and test -------------------------------------------------------------------

    def _eval_step(self, batch: Any, loss_metric: MeanMetric, bytes_metric: MeanMetric) -> None:
        inputs, targets = batch
        loss = self.loss(inputs, targets)
        # token-weighted means over the whole split: the mean loss, and the mean UTF-8 bytes of
        # the predicted tokens (their ratio gives bits per byte)
        loss_metric.update(loss, weight=targets.numel())
        bytes_metric.update(self._token_bytes(targets).float().mean(), weight=targets.numel())

    def _token_bytes(self, targets: torch.Tensor) -> torch.Tensor:
        if self._byte_table is None or self._byte_table.device != targets.device:
            from gptlab.data.tokenizer import token_byte_lengths

            lengths = list(token_byte_lengths())
            lengths += [0] * max(0, self.model_config.padded_vocab_size - len(lengths))
            self._byte_table = torch.tensor(lengths, dtype=torch.int16, device=targets.device)
        return self._byte_table[targets]

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, self.val_loss, self.val_bytes)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, self.test_loss, self.test_bytes)

    def _log_eval(self, prefix: str, loss_metric: MeanMetric, bytes_metric: MeanMetric) -> None:
        loss = loss_metric.compute()  # torchmetrics reduces across ranks itself
        bytes_per_token = bytes_metric.compute()
        loss_metric.reset()
        bytes_metric.reset()
        values = {
            f"{prefix}/loss": loss,
            f"{prefix}/ppl": torch.exp(loss),
            # bits per byte: the summed loss in bits over the UTF-8 bytes of the same tokens,
            # which compares across tokenizers and vocabularies (nanochat's val bpb)
            f"{prefix}/bpb": loss / math.log(2) / bytes_per_token,
        }
        # callback_metrics only (the best checkpoint monitors val/loss); rows go through metrics
        self.log_dict(values, logger=False)
        self.metrics.write({name: float(v) for name, v in values.items()}, step=self.global_step)

    def on_validation_start(self) -> None:
        if not self.trainer.sanity_checking:
            self.metrics.pause()

    def on_validation_epoch_end(self) -> None:
        self._log_eval("val", self.val_loss, self.val_bytes)
        if not self.trainer.sanity_checking:
            self.last_validated_step = self.global_step

    def on_validation_end(self) -> None:
        if not self.trainer.sanity_checking:
            seconds = self.metrics.unpause()
            if self.trainer.state.fn == "fit":
                self.metrics.write({"perf/val_s": seconds}, step=self.global_step)

    def on_test_epoch_end(self) -> None:
        self._log_eval("test", self.test_loss, self.test_bytes)

    # --- checkpoints ---------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        bad = nonfinite_tensors(checkpoint["state_dict"])
        if bad:  # raising here stops the write: the previous checkpoint file stays as it was
            from gptlab.training.numerics import NonFiniteError

            raise NonFiniteError(
                f"refusing to save a checkpoint: {bad[0]} (and {len(bad) - 1} more tensors) "
                f"hold NaN or infinity; the previous checkpoint is kept"
            )
        checkpoint["gptlab"] = self.nonfinite.checkpoint_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.nonfinite.load_checkpoint_state(checkpoint.get("gptlab", {}))
