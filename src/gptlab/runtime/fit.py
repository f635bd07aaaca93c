"""Training a built run: fit (resuming where the spec says), the final validation if fit ended
without one, the test split if asked, and the sample at the end."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import OmegaConf

from gptlab.data.tokenizer import VOCAB_SIZE, reads_gpt2_tokens
from gptlab.runtime.build import Built
from gptlab.runtime.spec import RunSpec
from gptlab.runtime.tracking import describe_run
from gptlab.text import sample_text
from gptlab.training.sharding import weights_are_sharded

log = logging.getLogger("train")


def model_summary(spec: RunSpec, n_params: int) -> str:
    config = spec.model
    head = "tied" if config.tie_weights else "untied"
    return (
        f"GPT: {n_params:,} parameters ({head} head) | n_layers={config.n_layers} "
        f"n_heads={config.n_heads} emb_dim={config.emb_dim} hidden_dim={config.hidden_dim} "
        f"context_length={config.context_length} vocab_size={config.vocab_size} | "
        f"{config.pos_emb} positions, {config.norm}, {config.mlp} MLP"
    )


def fit(spec: RunSpec, built: Built) -> dict[str, float]:
    """Train, validate, test and sample as the spec says; the final metrics (``val/loss`` ...)."""
    module, trainer, datamodule = built.module, built.trainer, built.datamodule
    n_parameters = module.model.num_parameters()
    rank_zero_only(log.info)(model_summary(spec, n_parameters))
    for warning in spec.warnings:
        rank_zero_only(log.warning)(warning)
    if trainer.loggers:
        config = OmegaConf.to_container(spec.config, resolve=True)
        describe_run(trainer.loggers, config, n_parameters, Path(spec.config.paths.root_dir))
    drawn = sample_settings(spec, built)
    before = draw(spec, module.model, drawn) if drawn and wants_before(spec) else None
    if spec.train:
        resume = spec.resume
        if resume is not None:
            resume.set_aside_unreadable()
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume.path) if resume else None)
        last = OmegaConf.select(spec.config, "callbacks.last_checkpoint.dirpath")
        error = module.nonfinite.error(last)
        if error is not None:
            raise error
        if module.stop_reason == "signal":  # the job is about to be killed: nothing more
            return dict(module.metrics.latest)
        if module.last_validated_step != trainer.global_step:  # the result is the final model's
            trainer.validate(module, datamodule=datamodule, verbose=False)
    if spec.config.get("test", False):
        trainer.test(module, datamodule=datamodule, verbose=False)
    if drawn:
        if before is not None:
            print(f"\nSample before training:\n{before}", flush=True)
        print(f"\nSample from the trained model:\n{draw(spec, module.model, drawn)}\n", flush=True)
    return dict(module.metrics.latest)


def wants_before(spec: RunSpec) -> bool:
    """``sample.before``: on a fresh start the untrained weights write a sample too, so the end
    shows what training changed."""
    sample = spec.config.get("sample")
    fresh = spec.resume is None and spec.init_from is None
    return bool(sample and sample.max_new_tokens > 0 and sample.get("before") and fresh)


def sample_settings(spec: RunSpec, built: Built) -> Any:
    """``sample.*`` when this process draws the samples (rank 0, whole weights, GPT-2 tokens),
    else None, saying once why a configured sample cannot be drawn."""
    sample = spec.config.get("sample")
    if not sample or sample.max_new_tokens <= 0:
        return None
    if weights_are_sharded(built.trainer):
        rank_zero_only(log.info)(
            "no sample under FSDP: python -m gptlab generate ckpt_path=<run>/checkpoints/last.ckpt"
        )
        return None
    if not reads_gpt2_tokens(spec.model.vocab_size):
        rank_zero_only(log.info)(
            "no sample: model.vocab_size=%d < %d, the GPT-2 tokenizer's ids",
            spec.model.vocab_size,
            VOCAB_SIZE,
        )
        return None
    return sample if built.trainer.is_global_zero else None


def draw(spec: RunSpec, model: torch.nn.Module, sample: Any) -> str:
    return sample_text(
        model,
        sample.prompt,
        max_new_tokens=sample.max_new_tokens,
        temperature=sample.temperature,
        top_k=sample.top_k,
        seed=spec.seed,
    )
