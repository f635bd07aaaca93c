"""Train a GPT: python train.py [group=option ...] [key=value ...]

Examples::

    python train.py                                  # tiny GPT on the embedded corpus
    python train.py model=gpt2_124m trainer.devices=2
    python train.py -m model.n_layers=2,4            # a sweep
"""

import logging
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from gptlab.cli import one_line_config_errors, user_errors
from gptlab.sweeps import score, write_result
from gptlab.tracking import own_wandb_service
from gptlab.train import optimized_value, train

log = logging.getLogger("train")


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    metric = cfg.get("optimized_metric")
    start = time.time()

    def record(
        status: str, value: float | None, metrics: dict | None = None, error: str | None = None
    ) -> None:
        if rank_zero_only.rank == 0:
            wall = round(time.time() - start, 1)
            tokens = (metrics or {}).get("train/tokens")
            write_result(
                run_dir,
                status=status,
                metric=metric,
                value=value,
                tokens_seen=tokens,
                wall_time_s=wall,
                error=error,
            )

    if hydra_cfg.mode == RunMode.MULTIRUN:
        # one failing or NaN trial must not end the sweep: it scores the worst value instead
        try:
            metrics = train(cfg)
        except Exception as err:
            log.exception("job failed; scored as the worst value")
            record("failed", None, error=f"{type(err).__name__}: {err}")
            return score(None)
        value = optimized_value(cfg, metrics)
        record(
            "ok" if value is not None and score(value) == value else "not finite", value, metrics
        )
        return score(value) if metric else None

    with user_errors():
        metrics = train(cfg)
    value = optimized_value(cfg, metrics)
    record("ok", value, metrics)
    return value


if __name__ == "__main__":
    own_wandb_service()
    one_line_config_errors()
    main()
