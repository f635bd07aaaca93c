"""Evaluate a checkpoint: python eval.py ckpt_path=<.ckpt> [data=...] -> loss and perplexity."""

import hydra
from omegaconf import DictConfig

from gptlab.cli import one_line_config_errors, user_errors
from gptlab.evaluate import evaluate


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> float:
    with user_errors():
        metrics = evaluate(cfg)
    loss = metrics.get(f"{cfg.split}/loss")
    print(f"{cfg.split}/loss={loss:.4f} {cfg.split}/ppl={metrics.get(f'{cfg.split}/ppl'):.2f}")
    return loss


if __name__ == "__main__":
    one_line_config_errors()
    main()
