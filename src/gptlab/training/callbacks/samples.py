"""Text generated from fixed prompts every N steps: a W&B table, so samples can be compared over time."""

from __future__ import annotations

import logging

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn

from gptlab.data.tokenizer import check_reads_gpt2_tokens
from gptlab.errors import ConfigError
from gptlab.text import sample_text
from gptlab.training.sharding import weights_are_sharded

log = logging.getLogger(__name__)


class TextSamples(L.Callback):
    def __init__(
        self, every_n_steps: int = 500, prompts: list[str] | None = None, max_new_tokens: int = 32
    ) -> None:
        self.every_n_steps = every_n_steps
        self.prompts = list(prompts or ["The"])
        self.max_new_tokens = max_new_tokens
        self.rows: list[list] = []  # every sample so far: the W&B table grows with the run

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        try:
            check_reads_gpt2_tokens(pl_module.model.cfg.vocab_size, "callbacks.text_samples")
        except ConfigError as err:  # a model of other token ids: no text prompts, no crash later
            rank_zero_warn(f"{err}: text samples are off")
            self.every_n_steps = 0

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        step = trainer.global_step
        stepped = pl_module.metrics.step_ended(trainer)
        if not stepped or not self.every_n_steps or step == 0 or step % self.every_n_steps:
            return
        self.sample(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """The final model's samples too, so that a short run's table is not empty."""
        sampled = self.rows and self.rows[-1][0] == trainer.global_step
        if (
            pl_module.stop_reason == "signal"
        ):  # the job is about to be killed: only the checkpoint counts
            return
        if self.every_n_steps and trainer.global_step and not sampled:
            self.sample(trainer, pl_module)

    def sample(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        step = trainer.global_step
        if weights_are_sharded(trainer) or not trainer.is_global_zero:
            return
        with pl_module.metrics.paused(), torch.no_grad():
            for prompt in self.prompts:
                text = sample_text(pl_module.model, prompt, self.max_new_tokens, seed=step)
                self.rows.append([step, prompt, text])
                log.debug("step %d sample: %r", step, text)
        for logger in trainer.loggers:  # a table of text, not a metrics row: W&B's text table
            if hasattr(logger, "log_text"):
                logger.log_text(
                    key="samples", columns=["step", "prompt", "text"], data=self.rows, step=step
                )
