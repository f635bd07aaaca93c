"""Generate text: python generate.py ckpt_path=<.ckpt> prompt="..." [temperature=0 top_k=50 ...]

The same as ``python -m gptlab generate``; the code is in ``src/gptlab/commands/generate.py``.
"""

import sys

from gptlab.commands.help import answer, wants_help

if __name__ == "__main__":
    if wants_help(sys.argv[1:]):
        answer("generate")  # at once: before torch is imported
    from gptlab.commands.generate import main

    main()
