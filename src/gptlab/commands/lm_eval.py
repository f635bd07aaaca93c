"""``python -m gptlab lm_eval <lm_eval arguments>``: the lm-evaluation-harness's command line with
gptlab's model type registered (``--model gptlab --model_args ckpt_path=...``).

The harness has no plugin discovery for model types, so ``lm_eval --model gptlab`` alone cannot
find it; this command imports the registration, then hands over to the harness unchanged.
"""

from __future__ import annotations

import argparse
import sys

from gptlab.commands.cli import EXIT_USER_ERROR, print_error


def parser() -> argparse.ArgumentParser:
    """For ``--help`` only: every argument goes to the harness's own command line."""
    parser = argparse.ArgumentParser(
        prog="gptlab lm_eval",
        description="The lm-evaluation-harness on a gptlab checkpoint (pip install -e '.[eval]'). "
        "Every option is the harness's own (lm_eval --help lists them).",
        epilog="example: gptlab lm_eval --model gptlab --model_args ckpt_path=<run>/checkpoints/"
        "last.ckpt --tasks hellaswag,arc_easy --batch_size 32 --output_path results/",
    )
    parser.add_argument("arguments", nargs="*", help="the harness's arguments")
    return parser


def main() -> None:
    try:
        from lm_eval.__main__ import cli_evaluate

        import gptlab.evaluation.harness  # noqa: F401 - registers --model gptlab
    except ImportError as err:
        print_error(
            f'the lm-evaluation-harness is not installed ({err.name}): pip install -e ".[eval]"'
        )
        sys.exit(EXIT_USER_ERROR)
    cli_evaluate()


if __name__ == "__main__":
    main()
