"""``dip-bench``: the command line. Each subcommand (verb) lives in its own module ``bench.cli.<verb>`` with a
``register(sub)`` that adds its parser and sets ``func``; ``bench.cli.args`` holds the argument-parsing helpers.

A user's mistake (bad file, unknown method, missing weights) is one line on stderr and exit code 2; ``--debug``
shows the traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from dip_bench.contract import UserError

COMMANDS = ("methods", "inpaint", "data", "run", "report", "merge", "check", "reference", "profile")
#: the commands that draw figures with matplotlib (a report), unless given --no-report
DRAWING = ("run", "report", "merge")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"dip-bench: warning: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dip-bench", description="Benchmark for Deep Image Prior inpainting.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for user errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"dip_bench.bench.cli.{name}").register(sub)
    return parser


def unknown_matplotlib_backend() -> str | None:
    """The value of ``MPLBACKEND`` when matplotlib does not know it (matplotlib would raise at import, in every
    command), else None. An unknown value is removed from this process's environment (and its children's), so
    that matplotlib imports with its default; a known one is kept."""
    backend = os.environ.pop("MPLBACKEND", None)
    if not backend:
        return None
    import matplotlib
    import matplotlib.rcsetup

    try:
        matplotlib.rcsetup.validate_backend(backend)
    except ValueError:
        return backend
    os.environ["MPLBACKEND"] = backend
    matplotlib.rcParams["backend"] = backend  # what matplotlib's import does with the variable
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 check failed, 2 user error, 130 interrupted)."""
    bad_backend = unknown_matplotlib_backend()
    args = build_parser().parse_args(argv)
    warnings.showwarning = _show_warning
    if bad_backend is not None:
        problem = f"MPLBACKEND={bad_backend!r} is not a matplotlib backend"
        if args.command in DRAWING and not getattr(args, "no_report", False):
            print(f"dip-bench: error: {problem} (the report's figures need matplotlib); unset MPLBACKEND or set it "
                  "to Agg", file=sys.stderr)
            return 2
        print(f"dip-bench: warning: {problem}; ignored (this command draws nothing)", file=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except UserError as error:
        if args.debug:
            raise
        print(f"dip-bench: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("dip-bench: interrupted; finished rows are kept (use --resume)", file=sys.stderr)
        return 130
