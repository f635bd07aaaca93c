"""Generate text: python generate.py ckpt_path=<.ckpt> prompt="..." [temperature=0 top_k=50 ...]

The same as ``python -m gptlab generate``; the code is in ``src/gptlab/commands/generate.py``.
"""

from gptlab.commands.generate import main

if __name__ == "__main__":
    main()
