"""How a run ended, in one block at the end of its output, with the very numbers of its
``result.json``: status, steps and tokens, time and throughput, the final validation, the best and
last checkpoints, the run folder, and how to upload an offline W&B run."""

from __future__ import annotations

import datetime
import math
from pathlib import Path
from typing import Any

from gptlab.runtime.build import Built
from gptlab.runtime.spec import RunSpec
from gptlab.runtime.tracking import StepWandbLogger

ENDINGS = {
    None: "finished",
    "signal": "stopped by a signal (resume with ckpt_path=last)",
    "target": "reached the target loss",
    "nonfinite": "stopped on a non-finite loss",
}


def outcome(spec: RunSpec, built: Built, metrics: dict[str, float]) -> dict[str, Any]:
    """The facts of a run that ended: what ``result.json`` records beside status and metric."""
    module, trainer = built.module, built.trainer
    steps = trainer.global_step
    training_s = module.metrics.training_s
    trained = module.metrics.tokens_timed(steps)  # the tokens of the timed steps
    best = trainer.checkpoint_callback
    best_path = getattr(best, "best_model_path", "") or None
    score = getattr(best, "best_model_score", None)
    last = spec.run_dir / "checkpoints" / "last.ckpt"
    sync = next(
        (lg.offline_sync for lg in trainer.loggers if isinstance(lg, StepWandbLogger)), None
    )
    return {
        "ended": ENDINGS.get(module.stop_reason, module.stop_reason),
        "steps": steps,
        "max_steps": spec.max_steps,
        "tokens_seen": metrics.get("train/tokens"),
        "training_s": round(training_s, 2),
        "tokens_per_s": round(trained / training_s) if training_s > 0 else None,
        **{key: metrics[key] for key in ("val/loss", "val/ppl", "val/bpb") if key in metrics},
        "best_checkpoint": best_path,
        "best_val_loss": float(score) if score is not None else None,
        "last_checkpoint": str(last) if last.is_file() else None,
        "run_dir": str(spec.run_dir),
        "wandb_sync": sync,
    }


def clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    return str(datetime.timedelta(seconds=round(seconds)))


def summary_text(result: dict[str, Any]) -> str:
    """The block printed when a run ends (``result``: its ``result.json``)."""
    run_dir = Path(result["run_dir"])

    def short(path: str | None) -> str | None:
        return None if path is None else str(Path(path).relative_to(run_dir))

    of = f"/{result['max_steps']}" if result.get("max_steps", 0) > 0 else ""
    tokens = f", {int(result['tokens_seen']):,} tokens" if result.get("tokens_seen") else ""
    rate = f" at {result['tokens_per_s']:,} tokens/s" if result.get("tokens_per_s") else ""
    lines = [
        f"run {result['ended']}: step {result['steps']}{of}{tokens}, "
        f"{clock(result.get('wall_time_s'))} (training {clock(result.get('training_s'))}{rate})"
    ]
    formats = {"val/loss": "{:.4f}", "val/ppl": "{:.2f}", "val/bpb": "{:.4f}"}
    shown = [f"{key} {fmt.format(result[key])}" for key, fmt in formats.items() if key in result]
    if shown:
        lines.append("  " + " | ".join(shown))
    if result.get("best_checkpoint"):
        score = result.get("best_val_loss")
        of_score = f" (val/loss {score:.4f})" if score is not None else ""
        lines.append(f"  best checkpoint: {short(result['best_checkpoint'])}{of_score}")
    if result.get("last_checkpoint"):
        lines.append(f"  last checkpoint: {short(result['last_checkpoint'])}")
    lines.append(f"  run folder: {run_dir}")
    if result.get("wandb_sync"):
        lines.append(f"  W&B is offline; upload the run with: {result['wandb_sync']}")
    return "\n".join(lines)
