"""Text generated from fixed prompts every N steps: a W&B table, so samples can be compared over time."""

from __future__ import annotations

import logging

import lightning as L
import torch

from gptlab.distributed import weights_are_sharded
from gptlab.generate import sample_text

log = logging.getLogger(__name__)


class TextSamples(L.Callback):
    def __init__(
        self, every_n_steps: int = 500, prompts: list[str] | None = None, max_new_tokens: int = 32
    ) -> None:
        self.every_n_steps = every_n_steps
        self.prompts = list(prompts or ["The"])
        self.max_new_tokens = max_new_tokens
        self.rows: list[list] = []  # every sample so far: the W&B table grows with the run

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        step = trainer.global_step
        if (
            not self.every_n_steps
            or step == 0
            or step % self.every_n_steps
            or trainer.fit_loop._should_accumulate()
        ):
            return
        if weights_are_sharded(trainer) or not trainer.is_global_zero:
            return
        with torch.no_grad():
            for prompt in self.prompts:
                text = sample_text(pl_module.model, prompt, self.max_new_tokens, seed=step)
                self.rows.append([step, prompt, text])
                log.debug("step %d sample: %r", step, text)
        for logger in trainer.loggers:
            if hasattr(logger, "log_text"):
                logger.log_text(key="samples", columns=["step", "prompt", "text"], data=self.rows)
