"""The parser of the command line: the program's own options, every command in the order
``gpuhash --help`` lists them, and the global output options on each."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

from gpuhash import __version__
from gpuhash.cli import hashing, plugins, signing
from gpuhash.cli.options import global_options
from gpuhash.cli.output import PROG

#: The commands of gpuhash itself (the others come from entry points: ``plugins``).
BUILT_IN = frozenset(("digest", "hash", "sign", "verify", "check", "prove", "selftest", "backends"))


class _Parser(argparse.ArgumentParser):
    """argparse's parser, its usage errors one line (the convention of every other error):
    argparse prints the whole usage, 4-14 lines, before the error."""

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        self.exit(2, f"{self.prog} (usage: {self.prog} --help): error: {text}\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of ``gpuhash``. Without ``argv``, with every command; with it, the commands
    of other distributions are read (and imported) only where parsing ``argv`` may need them."""
    parser = _Parser(
        prog=PROG,
        description="Bit-exact hashing of machine-learning models on accelerators and CPUs.",
    )
    parser.add_argument(
        "--version", action="version", version=f"{PROG} {__version__} (specification v1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    found = None if argv is not None and not plugins.needed(argv, BUILT_IN) else plugins.find()
    hashing.add_digest(sub.add_parser)
    hashing.add_hash(sub.add_parser)
    signing.add_sign_verify(sub.add_parser)
    signing.add_check(sub.add_parser)
    hashing.add_prove(sub.add_parser)
    hashing.add_selftest(sub.add_parser)
    if found is not None:
        plugins.add_optional(sub.add_parser, found)
    hashing.add_backends(sub.add_parser)
    if found is not None:
        plugins.add_others(sub.add_parser, found, taken=sub.choices)
    global_options(parser, top=True)
    for command in sub.choices.values():
        global_options(command, top=False)
    return parser
