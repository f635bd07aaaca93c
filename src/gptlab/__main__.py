"""``python -m gptlab <command> [args]`` (also installed as the ``gptlab`` command)."""

from __future__ import annotations

import runpy
import sys

COMMANDS = {
    "train": "gptlab.commands.train",
    "eval": "gptlab.commands.evaluate",
    "generate": "gptlab.commands.generate",
    "prepare": "gptlab.commands.prepare",
    "export": "gptlab.commands.export",
    "plot": "gptlab.commands.plot",
    "sweeps": "gptlab.commands.sweeps",
    "bench": "gptlab.benchmarks.throughput",
    "lm_eval": "gptlab.commands.lm_eval",
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        names = ", ".join(COMMANDS)
        print(f"usage: python -m gptlab <command> [args]; commands: {names}", file=sys.stderr)
        sys.exit(2)
    module = COMMANDS[sys.argv[1]]
    # run the command module as __main__ with its own argv, so that processes it starts again
    # (DDP ranks > 0) run `python -m <module> ...` with the same arguments
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    if module == COMMANDS["train"]:
        from gptlab.commands.startup import stop_signals_exit_cleanly

        with stop_signals_exit_cleanly():  # also while torch is imported: a stop exits 0
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
