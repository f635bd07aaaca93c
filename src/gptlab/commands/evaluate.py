"""Evaluation: ``python eval.py ckpt_path=<.ckpt> | init_from=<Hugging Face folder> [task=...]``

``task=loss`` (default): loss, perplexity and bits per byte on the data's ``split`` (val or test),
in windows of the model's context length. ``task=hellaswag``: HellaSwag acc_norm and acc
(:mod:`gptlab.evaluation.hellaswag`), the numbers llm.c reports.
"""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from gptlab import atomic
from gptlab.checkpoints.weights import load_model
from gptlab.commands.cli import quiet_lightning_notices, user_errors
from gptlab.commands.entry import run_hydra
from gptlab.data.tokenizer import check_reads_gpt2_tokens
from gptlab.errors import ConfigError
from gptlab.evaluation import hellaswag
from gptlab.runtime import run_folder
from gptlab.runtime.devices import resolve_precision
from gptlab.training.module import GPTModule

TASKS = ("loss", "hellaswag")


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """The metrics of ``cfg.task`` for the model of ``ckpt_path`` or ``init_from``."""
    if cfg.task not in TASKS:
        raise ConfigError(f"task={cfg.task!r} must be one of {list(TASKS)}")
    if cfg.split not in ("val", "test"):
        raise ConfigError(f"split={cfg.split!r} must be val or test")
    quiet_lightning_notices()
    model = load_model(cfg.get("ckpt_path"), cfg.get("init_from"))
    if cfg.task == "hellaswag":
        check_reads_gpt2_tokens(model.cfg.vocab_size, "task=hellaswag")
        return evaluate_hellaswag(cfg, model)
    with open_dict(cfg):  # the data config reads the model's context length and vocabulary
        cfg.model = {"_target_": "gptlab.model.GPTConfig", **model.cfg.to_dict()}
    module = GPTModule(model.cfg)
    module.model.load_state_dict(model.state_dict())
    datamodule = instantiate(cfg.data)
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    trainer = instantiate(
        cfg.trainer,
        precision=resolve_precision(cfg.trainer.get("precision"), accelerator),
        logger=False,
        callbacks=[],
        enable_checkpointing=False,
        enable_progress_bar=False,
    )
    run = trainer.validate if cfg.split == "val" else trainer.test
    run(module, datamodule=datamodule, verbose=False)
    return dict(module.metrics.latest)


def evaluate_hellaswag(cfg: DictConfig, model: torch.nn.Module) -> dict[str, float]:
    options = cfg.hellaswag
    examples = hellaswag.load_examples(options.path, options.limit)
    on_gpu = torch.cuda.is_available() and cfg.trainer.get("accelerator", "auto") != "cpu"
    device = torch.device("cuda" if on_gpu else "cpu")
    precision = resolve_precision(cfg.trainer.get("precision"), "gpu" if on_gpu else "cpu")
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(str(precision))

    def autocast() -> torch.autocast:
        return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

    counts, seconds = hellaswag.evaluate(
        model.to(device), examples, batch_size=options.batch_size, autocast=autocast
    )
    return {
        "hellaswag/acc_norm": counts.acc_norm,
        "hellaswag/acc": counts.acc,
        "hellaswag/examples": float(counts.total),
        "hellaswag/seconds": seconds,
    }


def report(cfg: DictConfig, metrics: dict[str, float]) -> str:
    if cfg.task == "hellaswag":
        return (
            f"hellaswag acc_norm={metrics['hellaswag/acc_norm']:.4f} "
            f"acc={metrics['hellaswag/acc']:.4f} ({int(metrics['hellaswag/examples'])} examples, "
            f"{metrics['hellaswag/seconds']:.1f} s)"
        )
    split = cfg.split
    return (
        f"{split}/loss={metrics[f'{split}/loss']:.4f} {split}/ppl={metrics[f'{split}/ppl']:.2f} "
        f"{split}/bpb={metrics[f'{split}/bpb']:.4f}"
    )


def evaluate_job(cfg: DictConfig) -> float:
    """The Hydra job: evaluate, print the result, write it as ``metrics.json`` in the run folder.
    A refused start (a missing checkpoint, a bad setting) leaves no folder behind."""
    from hydra.core.hydra_config import HydraConfig

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    run_folder.begin(run_dir)
    with user_errors(cleanup=run_folder.discard_failed_start):
        metrics = evaluate(cfg)
    print(report(cfg, metrics))
    source = {"ckpt_path": cfg.get("ckpt_path"), "init_from": cfg.get("init_from")}
    atomic.write_json(run_dir / "metrics.json", {"task": cfg.task, **source, **metrics})
    return metrics.get("hellaswag/acc_norm", metrics.get(f"{cfg.split}/loss", float("nan")))


def main() -> None:
    run_hydra("eval", evaluate_job)


if __name__ == "__main__":
    main()
