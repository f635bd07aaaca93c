"""Training: ``python train.py`` / ``python -m gptlab train`` [group=option ...] [key=value ...]

Hydra composes ``conf/train.yaml``. A start then goes: the spec, checked once
(:mod:`gptlab.runtime.spec`; a refused start writes nothing) -> the run folder's lock -> the
objects (:mod:`gptlab.runtime.build`) -> the start's record and ``train.log`` -> fit, the final
validation, test and sample (:mod:`gptlab.runtime.fit`) -> ``result.json``, with the metric a
sweeper optimizes returned.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from gptlab.commands.cli import error_message, quiet_lightning_notices, user_errors
from gptlab.commands.entry import run_hydra
from gptlab.commands.startup import raise_pending_stop, stop_signals_exit_cleanly
from gptlab.errors import DiskFullError
from gptlab.runtime import run_folder
from gptlab.runtime.build import build
from gptlab.runtime.distributed import job_scope, use_job_command_for_ddp_ranks
from gptlab.runtime.fit import fit
from gptlab.runtime.result import score, write_result
from gptlab.runtime.spec import RunSpec, build_spec
from gptlab.runtime.summary import outcome, summary_text
from gptlab.runtime.tracking import finish_wandb, own_wandb_service
from gptlab.training.numerics import NonFiniteError

log = logging.getLogger("train")


@dataclass
class Trained:
    metrics: dict[str, float]  # the final metrics: val/loss and friends
    facts: dict[str, Any] = field(default_factory=dict)  # how it ended (runtime.summary.outcome)


def train(cfg: DictConfig) -> dict[str, float]:
    """One training run in this process (tests, benchmarks, notebooks): checked, locked, trained;
    returns the final metrics (``val/loss`` and friends) as floats."""
    spec = build_spec(cfg)
    attempt = run_folder.begin(spec.run_dir)
    try:
        return train_spec(spec, attempt).metrics
    finally:
        run_folder.end(attempt)


def nothing_to_train(spec: RunSpec) -> str:
    return (
        f"{spec.run_dir} is already at step {spec.resume.step} of trainer.max_steps="
        f"{spec.max_steps}: nothing to train, nothing changed (raise trainer.max_steps to go on)"
    )


class PendingStop(L.Callback):
    """At the start of training, after Lightning's set-up: a stop signal of the start-up whose
    exception was swallowed on the way ends the start (:func:`raise_pending_stop`)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        raise_pending_stop()


def train_spec(
    spec: RunSpec, attempt: run_folder.Attempt, hydra_config: Any | None = None
) -> Trained:
    """Train the checked ``spec`` in ``attempt``'s folder; with ``hydra_config`` (a Hydra job) the
    start's record and ``train.log`` are written once the objects are built. The caller ends the
    attempt (``run_folder.end``: the log closed, the lock released)."""
    if spec.nothing_to_train:
        rank_zero_only(log.info)(nothing_to_train(spec))
        return Trained({})
    use_job_command_for_ddp_ranks()
    quiet_lightning_notices()
    run_folder.claim(attempt)
    built = build(spec)
    if hydra_config is not None:
        run_folder.write_record(attempt, spec.config, hydra_config)
        run_folder.open_log(attempt, "train.log")
        if rank_zero_only.rank == 0:  # beside the record of the start
            from gptlab.commands.config_tree import save_config

            show = bool(spec.config.get("print_config"))
            save_config(spec.config, attempt.folder / "config_tree.log", show)
    raise_pending_stop()  # a stop signal that something on the way swallowed ...
    built.trainer.callbacks.append(PendingStop())  # ... or that Lightning's set-up did
    with job_scope():
        try:
            metrics = fit(spec, built)
        except BaseException:
            finish_wandb(exit_code=1)  # W&B shows the run as failed
            raise
        facts = outcome(spec, built, metrics)
        finish_wandb(exit_code=0)  # a sweep's next job starts a run of its own
        return Trained(metrics, facts)


def optimized_value(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """The metric a sweeper optimizes (``optimized_metric``), or None when not set or not logged."""
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        log.warning("optimized_metric %r was not logged; logged: %s", name, sorted(metrics))
        return None
    return metrics[name]


def run_and_record(
    cfg: DictConfig, attempt: run_folder.Attempt, sweep: bool, hydra_config: Any | None = None
) -> float | None:
    """Check, train and write the run's ``result.json``: the metric, status, tokens, wall time.

    In a sweep a failing, refused or non-finite job scores the worst value instead of ending the
    sweep. A single run that stops on a non-finite loss (``module.nonfinite=stop``) or a full disk
    is recorded as failed before its error line; a refused start is not recorded, so an existing run folder it
    named stays as it was.
    """
    try:
        return check_train_record(cfg, attempt, sweep, hydra_config)
    finally:
        run_folder.end(attempt)  # after the summary: train.log holds it too


def check_train_record(
    cfg: DictConfig, attempt: run_folder.Attempt, sweep: bool, hydra_config: Any | None
) -> float | None:
    metric = cfg.get("optimized_metric")
    start = time.time()

    def record(
        status: str, value: float | None, trained: Trained | None = None, error: str | None = None
    ) -> None:
        if rank_zero_only.rank != 0:
            return
        metrics = trained.metrics if trained else {}
        target = {k: v for k, v in metrics.items() if "target" in k}
        result = {
            "status": status,
            "metric": metric,
            "value": value,
            "wall_time_s": round(time.time() - start, 1),
            "error": error,
            "tokens_seen": metrics.get("train/tokens"),
            **(trained.facts if trained else {}),
            **target,
        }
        write_result(attempt.run_dir, result)
        if trained and trained.facts:
            for line in summary_text(result).splitlines():
                log.info(line)

    if sweep:
        try:
            spec = build_spec(cfg, sweep=True)
            if spec.nothing_to_train:
                rank_zero_only(log.info)(nothing_to_train(spec))
                return None
            trained = train_spec(spec, attempt, hydra_config)
        except Exception as err:
            log.error("job failed; scored as the worst value: %s", error_message(err) or err)
            record("failed", None, error=f"{type(err).__name__}: {err}")
            return score(None)
        value = optimized_value(cfg, trained.metrics)
        ok = value is not None and score(value) == value
        record("ok" if ok else "not finite", value, trained)
        return score(value) if metric else None

    spec = build_spec(cfg)
    if spec.nothing_to_train:
        rank_zero_only(log.info)(nothing_to_train(spec))
        return None
    try:
        trained = train_spec(spec, attempt, hydra_config)
    except (NonFiniteError, DiskFullError) as err:  # it trained, then failed: on record
        with contextlib.suppress(OSError):  # a disk that is full may not take result.json either
            record("failed", None, error=f"{type(err).__name__}: {err}")
        raise
    value = optimized_value(cfg, trained.metrics)
    record("ok", value, trained)
    return value


def train_job(cfg: DictConfig) -> float | None:
    """The Hydra job of ``python train.py``: one run, or one job of a sweep."""
    hydra_cfg = HydraConfig.get()
    attempt = run_folder.begin(Path(hydra_cfg.runtime.output_dir), records=True)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        return run_and_record(cfg, attempt, sweep=True, hydra_config=hydra_cfg)
    with user_errors(cleanup=run_folder.discard_failed_start):  # a refused start leaves nothing
        return run_and_record(cfg, attempt, sweep=False, hydra_config=hydra_cfg)


def main() -> None:
    with stop_signals_exit_cleanly():  # a stop signal before training: exit 0, nothing written
        own_wandb_service()
        run_hydra("train", train_job)


if __name__ == "__main__":
    main()
