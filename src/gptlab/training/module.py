"""The LightningModule: loss, optimizer groups, LR schedule, metrics and logging around GPT."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torchmetrics import MeanMetric

from gptlab.errors import ConfigError
from gptlab.kernels import attention as attention_kernels
from gptlab.kernels.float8 import check_recipe, convert_linears
from gptlab.kernels.loss import check_loss_kernel, resolve_loss_kernel
from gptlab.model import GPT, GPTConfig
from gptlab.optim.config import OptimConfig, build_optimizer, build_scheduler
from gptlab.runtime.devices import host_scalar
from gptlab.training.host_values import HostValues
from gptlab.training.numerics import (
    NonFiniteError,
    check_policy,
    nonfinite_tensors,
    seed_step,
    skip_update,
    step_seed,
)
from gptlab.training.steps import OptimizerSteps, logging_step, row_step
from gptlab.upstream import compiled_in_place

COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def check_compile_options(options: Any, mode: str | None) -> dict[str, Any]:
    """``module.compile_options`` as a plain dict of known Inductor settings."""
    if not options:
        return {}
    if not isinstance(options, Mapping):
        raise ConfigError(
            f"module.compile_options={options!r} must be a mapping of Inductor settings, "
            "e.g. {coordinate_descent_tuning: true}"
        )
    if mode:
        raise ConfigError(
            f"module.compile_mode={mode} and module.compile_options: torch.compile takes one of "
            "the two; set module.compile_mode=null"
        )
    from torch._inductor import list_options

    known = set(list_options())
    for key in options:
        if key not in known:
            raise ConfigError(
                f"module.compile_options.{key}: not an Inductor setting "
                "(torch._inductor.list_options() lists them)"
            )
    return {str(k): v for k, v in options.items()}


class GPTModule(L.LightningModule):
    """Trains a :class:`~gptlab.model.GPT` on next-token prediction.

    Takes plain values (or the two dataclasses) so checkpoints hold only plain hyperparameters
    and ``GPTModule.load_from_checkpoint`` works without Hydra.

    ``nonfinite``: what a non-finite loss or gradient norm does. ``skip``: that optimizer step
    changes nothing (counted in ``train/skipped_steps``, warned about); ``stop``: the weights stay
    as they were before it, training stops at the next logging step, saves ``last.ckpt`` and
    ``train.py`` exits with an error naming the step. ``seed``: each micro-batch's random state
    (dropout) is derived from it and the step, so a resumed run draws what the uninterrupted run drew.

    Run options (not architecture): ``compile`` (true, false, or ``auto``: on GPUs only; on CPUs
    compiling takes longer than the short runs made there save) with ``compile_mode`` or
    ``compile_options`` (Inductor settings, e.g. ``{coordinate_descent_tuning: true}``);
    ``fused_loss``: output layer + cross-entropy in row chunks (less memory);
    ``loss_kernel``: the cross-entropy's kernel (``auto``: Liger-Kernel's on CUDA GPUs when
    installed, else ``compiled``, the one torch.compile generates; see :mod:`gptlab.kernels.linear_cross_entropy`);
    ``init_from``: start from these weights (a gptlab ``.ckpt``, a Hugging Face folder or Hub name);
    ``attention``: the kernel of ``scaled_dot_product_attention`` (``auto``: PyTorch's choice;
    ``fa4``: FlashAttention-4, see :mod:`gptlab.kernels.attention`);
    ``float8``: FP8 matrix products through torchao (``tensorwise`` or ``rowwise``; opt-in).
    """

    def __init__(
        self,
        model: GPTConfig | dict[str, Any],
        optim: OptimConfig | dict[str, Any] | None = None,
        nonfinite: str = "skip",
        seed: int | None = None,
        compile: bool | str = False,
        compile_mode: str | None = None,
        compile_options: dict[str, Any] | None = None,
        fused_loss: bool = False,
        loss_kernel: str = "auto",
        init_from: str | None = None,
        attention: str = "auto",
        float8: str | None = None,
    ) -> None:
        super().__init__()
        self.nonfinite = check_policy(nonfinite)
        self.float8 = check_recipe(float8)
        if compile not in (True, False, "auto"):
            raise ConfigError(f"module.compile={compile!r} must be true, false or auto")
        if compile_mode not in COMPILE_MODES:
            raise ConfigError(
                f"module.compile_mode={compile_mode!r} must be one of {list(COMPILE_MODES)}"
            )
        self.seed = seed
        self.compile_setting, self.compile_mode = compile, compile_mode
        self.compile_options = check_compile_options(compile_options, compile_mode)
        self.model_config = model if isinstance(model, GPTConfig) else GPTConfig.from_dict(model)
        self.attention = attention_kernels.check_attention(attention, self.model_config.drop_rate)
        self.loss_kernel = check_loss_kernel(loss_kernel, self.model_config.logit_softcap)
        self._attention_swapped = False  # module.attention=fa4 swapped PyTorch's flash kernel
        self.optim_config = (
            optim if isinstance(optim, OptimConfig) else OptimConfig.from_dict(optim or {})
        )
        # plain values only, so load_from_checkpoint works without Hydra
        self.save_hyperparameters(
            {
                "model": self.model_config.to_dict(),
                "optim": asdict(self.optim_config),
                "nonfinite": nonfinite,
                "seed": seed,
                "compile": compile,
                "compile_mode": compile_mode,
                "compile_options": self.compile_options,
                "fused_loss": fused_loss,
                "loss_kernel": loss_kernel,
                "init_from": init_from,
                "attention": attention,
                "float8": float8,
            }
        )
        self.model = GPT(self.model_config, fused_loss=fused_loss)
        if init_from:
            from gptlab.checkpoints.reader import initial_weights, load_weights_into

            state = initial_weights(init_from, self.model_config)
            load_weights_into(self.model, state, f"module.init_from={init_from}")
        self.steps = OptimizerSteps()
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        self.val_bytes = MeanMetric()  # UTF-8 bytes per predicted token, for val/bpb
        self.test_bytes = MeanMetric()
        self._byte_table: torch.Tensor | None = None  # bytes of each token id, on the device
        # on the device, so that counting costs no host sync; saved in checkpoints by hand
        self.register_buffer("skipped_steps", torch.zeros((), dtype=torch.long), persistent=False)
        self.register_buffer("first_skipped_step", torch.tensor(-1), persistent=False)
        self._skips_reported = 0
        self._step_loss: torch.Tensor | None = None
        self._step_norm: torch.Tensor | None = None
        self.host_values = HostValues()  # the step's scalars reach the host without a sync
        self.host_loss: float | None = None  # the newest train/loss on the host (progress line)
        self._tokens_per_step = 0
        self._float8_converted = False
        self.stopped_at_step: int | None = None  # set when nonfinite=stop ended training
        self.last_validated_step: int | None = None  # the final validation is skipped if current

    def setup(self, stage: str) -> None:
        """FP8 layers and torch.compile once the device is known (``compile=auto``: on GPUs only)."""
        device = self.trainer.strategy.root_device
        if not self._attention_swapped:
            self._attention_swapped = attention_kernels.activate(self.attention, device)
        self.model.loss_kernel = resolve_loss_kernel(
            self.loss_kernel, device, self.model_config.logit_softcap
        )
        if self.float8 and not self._float8_converted:
            converted = convert_linears(self.model, self.float8, device)
            self._float8_converted = True
            rank_zero_info(f"module.float8={self.float8}: {converted} linear layers in FP8")
        wanted = self.compile_setting
        if wanted == "auto":
            wanted = self.trainer.strategy.root_device.type == "cuda"
        # in place: state_dict keys stay as without compile; setup runs for fit, test, ...
        if wanted and not compiled_in_place(self.model):
            # Dynamo's cache outlives a run and its guards do not cover the attention kernel
            # flags: a later run in this process (a sweep's job, a benchmark's variant) would
            # reuse an earlier run's graph, and with it that run's kernel
            torch.compiler.reset()
            if self.compile_options:  # torch.compile takes a mode or options, not both
                self.model.compile(options=self.compile_options)
            else:
                self.model.compile(mode=self.compile_mode)

    def teardown(self, stage: str) -> None:
        if self._attention_swapped:  # the next run in this process starts from PyTorch's kernel
            attention_kernels.restore()
            self._attention_swapped = False

    def on_train_start(self) -> None:
        self.steps.start(self.trainer)

    def attention_kernel(self) -> contextlib.AbstractContextManager:
        """``module.attention`` for the model's attention (:mod:`gptlab.kernels.attention`)."""
        return attention_kernels.kernel_context(self.attention)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model(idx)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self.seed is not None:
            seed_step(
                step_seed(self.seed, self.global_rank, self.global_step, batch_idx), self.device
            )

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        inputs, targets = batch
        with self.attention_kernel():
            loss = self.model(inputs, targets)
        self._step_loss = loss.detach()  # logged through host_values at logging steps
        # only on the steps Lightning sends to the loggers: each LightningModule.log call costs
        # ~0.4 ms of host time, more than a small model's whole step on a GPU
        if logging_step(self.trainer, self.global_step + 1):
            rates = self.lr_schedulers().get_last_lr()
            self.log("lr", host_scalar(rates[0]), on_step=True, on_epoch=False)
            if rates[-1] != rates[0]:  # optim=muon: the AdamW side's rate too
                self.log("lr_adamw", host_scalar(rates[-1]), on_step=True, on_epoch=False)
        return loss

    def _eval_step(
        self,
        batch: tuple[torch.Tensor, torch.Tensor],
        loss_metric: MeanMetric,
        bytes_metric: MeanMetric,
    ) -> None:
        inputs, targets = batch
        with self.attention_kernel():
            loss = self.model(inputs, targets)
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
        self.log(f"{prefix}/loss", loss, prog_bar=True)
        self.log(f"{prefix}/ppl", torch.exp(loss))
        # bits per byte: the summed loss in bits over the UTF-8 bytes of the same tokens, which
        # compares across tokenizers and vocabularies (nanochat's val bpb)
        self.log(f"{prefix}/bpb", loss / math.log(2) / bytes_per_token)

    def on_validation_epoch_end(self) -> None:
        self._log_eval("val", self.val_loss, self.val_bytes)
        if not self.trainer.sanity_checking:
            self.last_validated_step = self.global_step

    def on_test_epoch_end(self) -> None:
        self._log_eval("test", self.test_loss, self.test_bytes)

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip by global norm (``trainer.gradient_clip_val``) here rather than in Lightning's
        precision plugins (they refuse fused AdamW under bf16 autocast and norm clipping under
        FSDP), log the norm before clipping and skip the update if it or the loss is not finite."""
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
        self._skip_if_nonfinite(optimizer, norm)

    def _skip_if_nonfinite(self, optimizer: torch.optim.Optimizer, norm: torch.Tensor) -> None:
        if self.trainer.precision == "16-mixed":
            return  # the GradScaler skips overflowing steps itself (and lowers its scale)
        bad = ~torch.isfinite(norm)
        if self._step_loss is not None:
            bad |= ~torch.isfinite(self._step_loss)
        if self.nonfinite == "stop":
            bad |= (
                self.skipped_steps > 0
            )  # after the first fault the weights stay the last good ones
        first = self.first_skipped_step
        first.copy_(torch.where(bad & (first < 0), self.global_step, first))
        self.skipped_steps += bad
        skip_update(optimizer, bad)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """At logging steps: the step's loss, gradient norm and non-finite count go to the host
        (:class:`~gptlab.training.host_values.HostValues`): on a GPU without waiting for it, and
        reach the loggers one logging interval later under their own step; on a CPU at once."""
        trainer = self.trainer
        if not self._tokens_per_step:
            self._tokens_per_step = (
                batch[0].numel() * trainer.world_size * trainer.accumulate_grad_batches
            )
        if not self.steps.stepped(trainer) or self._step_loss is None:
            return
        step = self.global_step
        logs = logging_step(trainer, step)
        # the non-finite count reaches the host at logging steps, every 50 steps without them
        checks = step % (trainer.log_every_n_steps or 50) == 0
        if not checks and self.device.type == "cuda":
            return
        values = {"train/loss": self._step_loss, "train/skipped_steps": self.skipped_steps}
        if self._step_norm is not None:
            values["train/grad_norm"] = self._step_norm
        values["first_skipped_step"] = self.first_skipped_step
        landed = self.host_values.exchange(step, values)
        if landed is not None:
            self._report(*landed, to_loggers=logs, to_lightning=logs)

    def on_train_end(self) -> None:
        landed = self.host_values.take()  # the last logging step's values (one wait, at the end)
        if landed is not None:
            self._report(*landed, to_loggers=True, to_lightning=False)

    def _report(
        self, step: int, values: dict[str, float], to_loggers: bool, to_lightning: bool = True
    ) -> None:
        first_skipped = int(values.pop("first_skipped_step"))
        self.host_loss = values["train/loss"]
        if to_loggers and self.trainer.is_global_zero:
            row = {**values, "train/tokens": float(step * self._tokens_per_step)}
            for logger in self.trainer.loggers:
                logger.log_metrics(row, step=row_step(step))
        if to_lightning:  # the newest values in callback_metrics (results, progress): CPU tensors
            for name, value in values.items():
                self.log(name, host_scalar(value), on_step=True, on_epoch=False, logger=False)
        self._check_skips(int(values["train/skipped_steps"]), first_skipped)

    def _check_skips(self, skipped: int, first: int) -> None:
        if skipped == self._skips_reported:
            return
        self._skips_reported = skipped
        if self.nonfinite == "stop":
            self.stopped_at_step = first
            self.trainer.should_stop = True  # last.ckpt is written when training ends
            return
        rank_zero_warn(
            f"skipped {skipped} optimizer step(s) so far with a non-finite loss or gradient norm "
            f"(first at step {first}); module.nonfinite=stop stops at the first one instead"
        )

    def check_finished_cleanly(self, checkpoint_dir: str | None = None) -> None:
        """Raise NonFiniteError if training stopped on a non-finite loss or gradient."""
        if self.stopped_at_step is None:
            return
        where = f" in {checkpoint_dir}/last.ckpt" if checkpoint_dir else ""
        raise NonFiniteError(
            f"non-finite loss or gradient norm at step {self.stopped_at_step} "
            f"(module.nonfinite=stop): training stopped; the weights from before that step are "
            f"saved{where}. Lower optim.lr, raise optim.warmup_steps or set trainer.gradient_clip_val; "
            f"resume with ckpt_path=last, or set module.nonfinite=skip to skip such steps"
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        bad = nonfinite_tensors(checkpoint["state_dict"])
        if bad:  # raising here stops the write: the previous checkpoint file stays as it was
            raise NonFiniteError(
                f"refusing to save a checkpoint: {bad[0]} (and {len(bad) - 1} more tensors) "
                f"hold NaN or infinity; the previous checkpoint is kept"
            )
        checkpoint["gptlab"] = {
            "skipped_steps": int(self.skipped_steps),
            "first_skipped_step": int(self.first_skipped_step),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("gptlab", {})
        self.skipped_steps.fill_(state.get("skipped_steps", 0))
        self.first_skipped_step.fill_(state.get("first_skipped_step", -1))
        self._skips_reported = int(self.skipped_steps)

    def configure_optimizers(self) -> dict[str, Any]:
        # fused: one kernel for all parameters on GPUs. Not with fp16 loss scaling, where the
        # gradients must be unscaled before clipping and fused AdamW unscales only inside its step.
        fused = self.device.type == "cuda" and self.trainer.precision != "16-mixed"
        optimizer = build_optimizer(self.model, self.optim_config, fused)
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = build_scheduler(optimizer, self.optim_config, total)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
