"""HellaSwag every N steps during training, as llm.c does (:mod:`gptlab.evaluation.hellaswag`)."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch

from gptlab.data.tokenizer import check_reads_gpt2_tokens
from gptlab.errors import ConfigError
from gptlab.evaluation import hellaswag
from gptlab.training.sharding import weights_are_sharded

log = logging.getLogger(__name__)


class HellaSwag(L.Callback):
    """Scores HellaSwag every ``every_n_steps`` optimizer steps and when training ends; logs
    ``eval/hellaswag_acc_norm``, ``eval/hellaswag_acc`` and the seconds it took
    (``eval/hellaswag_s``, left out of the throughput) to every logger.

    ``every_n_steps``: 0 turns it off. ``path``: the original ``hellaswag_val.jsonl``; null
    downloads it with Hugging Face ``datasets`` (online). The examples are read when training
    callback is made (before the run writes anything), so a missing file stops the run at once, not
    at step N. ``limit``: the first ``limit``
    examples (all 10,042 when null). The examples are split over all ranks and the counts added.
    """

    def __init__(
        self,
        every_n_steps: int = 0,
        path: str | None = None,
        limit: int | None = None,
        batch_size: int = 16,
    ) -> None:
        if every_n_steps < 0:
            raise ConfigError(f"callbacks.hellaswag.every_n_steps={every_n_steps} must be >= 0")
        if batch_size < 1:
            raise ConfigError(f"callbacks.hellaswag.batch_size={batch_size} must be >= 1")
        self.every_n_steps = every_n_steps
        self.path = path
        self.limit = limit
        self.batch_size = batch_size
        self.loaded = hellaswag.load_examples(path, limit) if every_n_steps else []
        self.examples: list[hellaswag.Rendered] = []  # tokenized once, for this model
        self.results: dict[str, float] = {}  # the latest score, for result.json
        self.scored_step: int | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.every_n_steps and stage == "fit" and not self.examples:
            check_reads_gpt2_tokens(pl_module.model.cfg.vocab_size, "callbacks.hellaswag")
            context = pl_module.model.cfg.context_length
            self.examples = hellaswag.render_all(self.loaded, context)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        stepped = pl_module.metrics.step_ended(trainer)
        step = trainer.global_step
        if stepped and self.every_n_steps and step % self.every_n_steps == 0:
            self.evaluate(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """The final model's score too (unless this step was scored, or a signal stops the job)."""
        unscored = self.scored_step != trainer.global_step
        if self.every_n_steps and unscored and pl_module.stop_reason != "signal":
            self.evaluate(trainer, pl_module)

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if weights_are_sharded(trainer):
            if self.scored_step is None and trainer.is_global_zero:
                log.warning("HellaSwag is skipped under FSDP: score the checkpoint with eval.py")
            self.scored_step = trainer.global_step
            return
        with pl_module.metrics.paused():
            counts, seconds = hellaswag.evaluate(
                pl_module.model,
                self.examples,
                batch_size=self.batch_size,
                rank=trainer.global_rank,
                world_size=trainer.world_size,
                autocast=trainer.precision_plugin.forward_context,
            )
            totals = torch.tensor(
                [counts.correct, counts.correct_norm, counts.total], device=pl_module.device
            )
            totals = trainer.strategy.reduce(totals, reduce_op="sum")
            correct, correct_norm, total = (int(x) for x in totals.tolist())
        score = hellaswag.Score(correct, correct_norm, total)
        self.scored_step = trainer.global_step
        self.results = {
            "eval/hellaswag_acc_norm": score.acc_norm,
            "eval/hellaswag_acc": score.acc,
            "eval/hellaswag_s": seconds,
        }
        pl_module.metrics.write(self.results, step=trainer.global_step)
        if trainer.is_global_zero:
            log.info(
                "step %d HellaSwag acc_norm %.4f acc %.4f (%d examples, %.1f s)",
                trainer.global_step,
                score.acc_norm,
                score.acc,
                total,
                seconds,
            )
