"""Export: ``python -m gptlab export <gptlab .ckpt> <out folder>`` -> a Hugging Face folder."""

from __future__ import annotations

import sys

from gptlab.checkpoints.weights import model_from_checkpoint
from gptlab.commands.cli import EXIT_USER_ERROR, print_error
from gptlab.errors import GptlabError
from gptlab.interop.hf import save_hf

USAGE = "usage: python -m gptlab export <gptlab .ckpt> <out folder>"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(USAGE, file=sys.stderr)
        return EXIT_USER_ERROR
    try:
        folder = save_hf(model_from_checkpoint(args[0]), args[1])
    except GptlabError as err:
        print_error(err)
        return EXIT_USER_ERROR
    print(f"wrote {folder} (load it with transformers' AutoModelForCausalLM.from_pretrained)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
