"""Generate text: python generate.py ckpt_path=<.ckpt> prompt="..." [temperature=0 top_k=50 ...]"""

import hydra
from omegaconf import DictConfig

from gptlab.cli import one_line_config_errors, user_errors
from gptlab.sample import run_generation


@hydra.main(version_base="1.3", config_path="conf", config_name="generate")
def main(cfg: DictConfig) -> None:
    with user_errors():
        run_generation(cfg)


if __name__ == "__main__":
    one_line_config_errors()
    main()
