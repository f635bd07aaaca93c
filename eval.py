"""Evaluate a checkpoint: python eval.py ckpt_path=<.ckpt> [data=...] -> loss and perplexity.

The same as ``python -m gptlab eval``; the code is in ``src/gptlab/commands/evaluate.py``.
"""

from gptlab.commands.evaluate import main

if __name__ == "__main__":
    main()
