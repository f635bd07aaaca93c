"""Training: ``python train.py`` / ``python -m gptlab train`` [group=option ...] [key=value ...]

Hydra composes ``conf/train.yaml``. A start then goes: the spec, checked once
(:mod:`gptlab.runtime.spec`; a refused start writes nothing) -> the run folder's lock -> the
objects (:mod:`gptlab.runtime.build`) -> the start's record and ``train.log`` -> fit, the final
validation, test and sample (:mod:`gptlab.runtime.fit`) -> ``result.json``, with the metric a
sweeper optimizes returned.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from gptlab.commands import conf_dir
from gptlab.commands.cli import (
    error_message,
    one_line_config_errors,
    quiet_lightning_notices,
    user_errors,
)
from gptlab.commands.startup import stop_signals_exit_cleanly
from gptlab.runtime import run_folder
from gptlab.runtime.build import build
from gptlab.runtime.distributed import job_scope, use_job_command_for_ddp_ranks
from gptlab.runtime.fit import fit
from gptlab.runtime.result import score, write_result
from gptlab.runtime.spec import RunSpec, build_spec
from gptlab.runtime.tracking import finish_wandb, own_wandb_service
from gptlab.training.numerics import NonFiniteError

log = logging.getLogger("train")


def train(cfg: DictConfig) -> dict[str, float]:
    """One training run in this process (tests, benchmarks, notebooks): checked, locked, trained;
    returns the final metrics (``val/loss`` and friends) as floats."""
    spec = build_spec(cfg)
    return train_spec(spec, run_folder.begin(spec.run_dir))


def nothing_to_train(spec: RunSpec) -> str:
    return (
        f"{spec.run_dir} is already at step {spec.resume.step} of trainer.max_steps="
        f"{spec.max_steps}: nothing to train, nothing changed (raise trainer.max_steps to go on)"
    )


def train_spec(
    spec: RunSpec, attempt: run_folder.Attempt, hydra_config: Any | None = None
) -> dict[str, float]:
    """Train the checked ``spec`` in ``attempt``'s folder; with ``hydra_config`` (a Hydra job) the
    start's record and ``train.log`` are written once the objects are built."""
    if spec.nothing_to_train:
        rank_zero_only(log.info)(nothing_to_train(spec))
        return {}
    use_job_command_for_ddp_ranks()
    quiet_lightning_notices()
    run_folder.claim(attempt)
    try:
        built = build(spec)
        if hydra_config is not None:
            run_folder.write_record(attempt, spec.config, hydra_config)
            run_folder.open_log(attempt, "train.log")
        if spec.config.get("print_config") and rank_zero_only.rank == 0:
            from gptlab.commands.config_tree import print_config

            print_config(spec.config, attempt.folder / "config_tree.log")
        with job_scope():
            try:
                metrics = fit(spec, built)
            except BaseException:
                finish_wandb(exit_code=1)  # W&B shows the run as failed
                raise
            finish_wandb(exit_code=0)  # a sweep's next job starts a run of its own
            return metrics
    finally:
        run_folder.end(attempt)


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
    sweep. A single run that stops on a non-finite loss (``module.nonfinite=stop``) is recorded as
    failed before its error line; a refused start is not recorded, so an existing run folder it
    named stays as it was.
    """
    metric = cfg.get("optimized_metric")
    start = time.time()

    def record(
        status: str, value: float | None, metrics: dict | None = None, error: str | None = None
    ) -> None:
        if rank_zero_only.rank == 0:
            target = {
                k: v for k, v in (metrics or {}).items() if "target" in k or k == "training_s"
            }
            write_result(
                attempt.run_dir,
                status=status,
                metric=metric,
                value=value,
                tokens_seen=(metrics or {}).get("train/tokens"),
                wall_time_s=round(time.time() - start, 1),
                error=error,
                **target,
            )

    if sweep:
        try:
            spec = build_spec(cfg)
            if spec.nothing_to_train:
                rank_zero_only(log.info)(nothing_to_train(spec))
                return None
            metrics = train_spec(spec, attempt, hydra_config)
        except Exception as err:
            log.error("job failed; scored as the worst value: %s", error_message(err) or err)
            record("failed", None, error=f"{type(err).__name__}: {err}")
            return score(None)
        value = optimized_value(cfg, metrics)
        ok = value is not None and score(value) == value
        record("ok" if ok else "not finite", value, metrics)
        return score(value) if metric else None

    spec = build_spec(cfg)
    if spec.nothing_to_train:
        rank_zero_only(log.info)(nothing_to_train(spec))
        return None
    try:
        metrics = train_spec(spec, attempt, hydra_config)
    except NonFiniteError as err:
        record("failed", None, error=f"{type(err).__name__}: {err}")
        raise
    value = optimized_value(cfg, metrics)
    record("ok", value, metrics)
    return value


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    attempt = run_folder.begin(Path(hydra_cfg.runtime.output_dir), records=True)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        return run_and_record(cfg, attempt, sweep=True, hydra_config=hydra_cfg)
    with user_errors(cleanup=run_folder.discard_failed_start):  # a refused start leaves nothing
        return run_and_record(cfg, attempt, sweep=False, hydra_config=hydra_cfg)


def main() -> None:
    with stop_signals_exit_cleanly():  # a stop signal before training: exit 0, nothing written
        own_wandb_service()
        one_line_config_errors()
        hydra_main()


if __name__ == "__main__":
    main()
