"""The eval.py command: a checkpoint's loss and perplexity on any data config's validation split."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from gptlab.errors import ConfigError, GptlabError
from gptlab.module import GPTModule
from gptlab.runtime import resolve_precision


def evaluate(cfg: DictConfig) -> dict[str, float]:
    path = Path(cfg.ckpt_path)
    if not path.is_file():
        raise GptlabError(f"ckpt_path={path} does not exist")
    if cfg.split not in ("val", "test"):
        raise ConfigError(f"split={cfg.split!r} must be val or test")
    try:
        hparams = torch.load(path, map_location="cpu", weights_only=True)["hyper_parameters"]
    except Exception as err:
        raise GptlabError(
            f"ckpt_path={path} is not a readable gptlab checkpoint ({type(err).__name__})"
        ) from err
    model_values = {**hparams["model"], "compile": False, "init_from": None}
    with open_dict(cfg):
        cfg.model = {"_target_": "gptlab.model.GPTConfig", **model_values}  # data reads its context
    module = GPTModule.load_from_checkpoint(
        path, map_location="cpu", weights_only=True, model=model_values
    )
    datamodule = instantiate(cfg.data)
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    trainer = instantiate(
        cfg.trainer,
        precision=resolve_precision(cfg.trainer.get("precision"), accelerator),
        logger=False,
        callbacks=[],
        enable_checkpointing=False,
    )
    run = trainer.validate if cfg.split == "val" else trainer.test
    (results,) = run(module, datamodule=datamodule)
    return {k: float(v) for k, v in results.items()}
