"""`python -m bench` (and `cl-bench`): the command line, generated from the same registries as the app.

Each command module of this package registers its subcommands (`register(sub)` returns name -> handler); a
command's bad input raises BadInput, printed as one line with exit code 2."""
from __future__ import annotations

import argparse
import importlib
import sys

from bench.spec.params import BadInput

EXIT_BAD_INPUT = 2
# The command modules, in the order `--help` lists their commands.
COMMAND_MODULES = ("runs", "resume", "imports", "report", "reproduce", "tune")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2, like every other bad input
        raise BadInput(message)


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    p = Parser(prog="python -m bench", description="Continual-learning bench engine.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    handlers: dict = {}
    for name in COMMAND_MODULES:
        handlers.update(importlib.import_module(f"bench.cli.{name}").register(sub))
    return p, handlers


def main(argv: list[str] | None = None) -> int:
    try:
        parser, handlers = build_parser()
        args = parser.parse_args(argv)
        return handlers[args.cmd](args)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
