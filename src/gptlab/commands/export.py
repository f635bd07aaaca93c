"""Export: ``gptlab export <gptlab .ckpt> <out folder> [--force]`` -> a Hugging Face folder."""

from __future__ import annotations

import argparse
import sys

from gptlab.commands.cli import EXIT_USER_ERROR, print_error


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gptlab export",
        description="Write a gptlab checkpoint as a Hugging Face folder: weights, config, "
        "generation config and GPT-2's tokenizer files, which transformers' "
        "AutoModelForCausalLM and AutoTokenizer load.",
    )
    parser.add_argument("checkpoint", help="a gptlab .ckpt (e.g. <run>/checkpoints/last.ckpt)")
    parser.add_argument("folder", help="the folder to write (made if missing)")
    parser.add_argument(
        "--force", action="store_true", help="replace files of the same names already there"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    from gptlab.checkpoints.weights import model_from_checkpoint
    from gptlab.errors import GptlabError
    from gptlab.interop.hf import exports_with_its_own_code, save_hf

    try:
        model = model_from_checkpoint(args.checkpoint)
        folder = save_hf(model, args.folder, force=args.force)
    except GptlabError as err:
        print_error(err)
        return EXIT_USER_ERROR
    own_code = exports_with_its_own_code(model.cfg)
    if own_code:
        print(
            f"wrote {folder} with gptlab's modeling code ({own_code}: no transformers class "
            "computes it); load it with AutoModelForCausalLM.from_pretrained(folder, "
            "trust_remote_code=True)"
        )
    else:
        print(f"wrote {folder} (load it with transformers' AutoModelForCausalLM.from_pretrained)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
