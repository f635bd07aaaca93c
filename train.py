"""Train a GPT: python train.py [group=option ...] [key=value ...]

    python train.py                                  # tiny GPT on the embedded corpus
    python train.py model=gpt2_124m trainer.devices=2
    python train.py -m model.n_layers=2,4            # a sweep

The same as ``python -m gptlab train``; the code is in ``src/gptlab/commands/train.py``.
"""

from gptlab.commands.startup import stop_signals_exit_cleanly

if __name__ == "__main__":
    with stop_signals_exit_cleanly():  # also while torch is imported: a stop exits 0
        from gptlab.commands.train import main

        main()
