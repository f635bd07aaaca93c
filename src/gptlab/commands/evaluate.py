"""Evaluation: ``python eval.py ckpt_path=<.ckpt> [data=...] [split=val|test]`` -> loss, perplexity.

The architecture comes from the checkpoint; the data windows use its context length.
"""

from __future__ import annotations

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from gptlab.commands import conf_dir
from gptlab.commands.cli import one_line_config_errors, quiet_lightning_notices, user_errors
from gptlab.errors import ConfigError
from gptlab.training.checkpoint import model_state, read_checkpoint, saved_config
from gptlab.training.module import GPTModule
from gptlab.training.runtime import resolve_precision


def evaluate(cfg: DictConfig) -> dict[str, float]:
    if cfg.split not in ("val", "test"):
        raise ConfigError(f"split={cfg.split!r} must be val or test")
    quiet_lightning_notices()
    checkpoint = read_checkpoint(cfg.ckpt_path)
    architecture = saved_config(checkpoint)
    with open_dict(cfg):  # the data config reads the model's context length and vocabulary
        cfg.model = {"_target_": "gptlab.model.GPTConfig", **architecture.to_dict()}
    module = GPTModule(architecture)
    module.model.load_state_dict(model_state(checkpoint))
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
    (results,) = run(module, datamodule=datamodule, verbose=False)
    return {k: float(v) for k, v in results.items()}


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="eval")
def hydra_main(cfg: DictConfig) -> float:
    with user_errors():
        metrics = evaluate(cfg)
    loss, ppl = metrics[f"{cfg.split}/loss"], metrics[f"{cfg.split}/ppl"]
    print(f"{cfg.split}/loss={loss:.4f} {cfg.split}/ppl={ppl:.2f}")
    return loss


def main() -> None:
    one_line_config_errors()
    hydra_main()


if __name__ == "__main__":
    main()
