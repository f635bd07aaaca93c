"""``python -m gptlab lm_eval <lm_eval arguments>``: the lm-evaluation-harness's command line with
gptlab's model type registered (``--model gptlab --model_args ckpt_path=...``).

The harness has no plugin discovery for model types, so ``lm_eval --model gptlab`` alone cannot
find it; this command imports the registration, then hands over to the harness unchanged.
"""

from __future__ import annotations

import sys

from gptlab.commands.cli import EXIT_USER_ERROR, print_error


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
