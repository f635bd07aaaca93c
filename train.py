"""Train a GPT: python train.py [group=option ...] [key=value ...]   (python train.py --help)

    python train.py                                  # tiny GPT on an offline corpus
    python train.py model=gpt2_124m trainer.devices=2
    python train.py -m model.n_layers=2,4            # a sweep

The same as ``python -m gptlab train``; the code is in ``src/gptlab/commands/train.py``.
"""

import sys

from gptlab.commands.help import answer, wants_help
from gptlab.commands.startup import stop_signals_exit_cleanly

if __name__ == "__main__":
    if wants_help(sys.argv[1:]):
        answer("train")  # at once: before torch is imported
    with stop_signals_exit_cleanly():  # also while torch is imported: a stop exits 0
        from gptlab.commands.train import main

        main()
