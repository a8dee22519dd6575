"""``dip-bench``: the command line. Each subcommand lives in its own ``bench.cmd_*`` module with a ``register``.

A user's mistake (bad file, unknown method, missing weights) is one line on stderr and exit code 2; ``--debug``
shows the traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from dip_bench.contract import UserError

COMMANDS = ("methods", "inpaint", "data", "run", "report", "merge", "check", "reference", "profile")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"dip-bench: warning: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dip-bench", description="Benchmark for Deep Image Prior inpainting.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for user errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"dip_bench.bench.cmd_{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 check failed, 2 user error, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    warnings.showwarning = _show_warning
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


if __name__ == "__main__":
    sys.exit(main())
