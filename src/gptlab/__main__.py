"""``python -m gptlab <command> [args]`` (also installed as the ``gptlab`` command)."""

from __future__ import annotations

import difflib
import runpy
import sys

from gptlab.commands.help import COMMANDS, answer, command_list, wants_help


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] in ("-h", "--help"):
        answer(None)
    if not args:
        print(command_list(), file=sys.stderr)
        sys.exit(2)
    name = args[0]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        print(
            f"error: {name!r} is not a gptlab command{hint} (commands: {', '.join(COMMANDS)}; "
            "gptlab --help says what each does)",
            file=sys.stderr,
        )
        sys.exit(2)
    if wants_help(args[1:]):
        answer(name)
    module = COMMANDS[name][0]
    # run the command module as __main__ with its own argv, so that processes it starts again
    # (DDP ranks > 0) run `python -m <module> ...` with the same arguments
    sys.argv = [sys.argv[0], *args[1:]]
    if name == "train":
        from gptlab.commands.startup import stop_signals_exit_cleanly

        with stop_signals_exit_cleanly():  # also while torch is imported: a stop exits 0
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
