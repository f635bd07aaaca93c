"""Evaluate a checkpoint: python eval.py ckpt_path=<.ckpt> [data=...] -> loss and perplexity.

The same as ``python -m gptlab eval``; the code is in ``src/gptlab/commands/evaluate.py``.
"""

import sys

from gptlab.commands.help import answer, wants_help

if __name__ == "__main__":
    if wants_help(sys.argv[1:]):
        answer("eval")  # at once: before torch is imported
    from gptlab.commands.evaluate import main

    main()
