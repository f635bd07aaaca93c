"""Train a GPT: python train.py [group=option ...] [key=value ...]

python train.py                                  # tiny GPT on the embedded corpus
python train.py model=gpt2_124m trainer.devices=2
python train.py -m model.n_layers=2,4            # a sweep
"""

import hydra
from omegaconf import DictConfig

from gptlab.cli import user_errors
from gptlab.train import optimized_value, train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    with user_errors():
        return optimized_value(cfg, train(cfg))


if __name__ == "__main__":
    main()
