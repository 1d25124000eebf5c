"""Commands of other distributions: the entry-point group ``gpuhash.commands``.

A distribution adds ``gpuhash NAME`` by naming, in its ``pyproject.toml``, an object that
follows ``Command``::

    [project.entry-points."gpuhash.commands"]
    NAME = "package.module:command"

The command line reads the group only when the command it runs is not a built-in one, or when
it may show the list of commands (``gpuhash --help``, an unknown command); only then is the
module imported, so keep it light and import what ``run`` needs inside ``run``. An entry point
named like a built-in command is ignored. ``run`` returns the exit status (``EXIT_*`` of
``gpuhash.cli.output``); a usage or input error is a ``gpuhash.errors.UsageError`` (or another
``GpuhashError``, or an ``OSError``) raised from it: one line ``gpuhash: error: ...``, exit 2.

The repository's own optional command, ``conformance`` (gpuhash-conformance), is listed in its
place whether its distribution is installed or not; when it is not, running it says how to
install it.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn, Protocol

from gpuhash.errors import UsageError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from gpuhash.cli.options import AddParser

#: The entry-point group of commands.
ENTRY_POINT_GROUP = "gpuhash.commands"


class Command(Protocol):
    """What an entry point of ``gpuhash.commands`` names: a command of the command line."""

    #: The command's line in ``gpuhash --help``.
    help: str
    #: The text under the usage line of ``gpuhash NAME --help``.
    description: str

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add the command's arguments and options to ``parser``, the parser of ``gpuhash NAME``
        (the global options ``-v``, ``--log-level`` and ``--progress`` are added after it)."""

    def run(self, args: argparse.Namespace) -> int:
        """Run the command with the parsed arguments; returns the exit status."""


@dataclass(frozen=True)
class _Optional:
    """A command of this repository's other distributions, known without them."""

    help: str
    what: str
    install: str


#: The repository's optional commands, listed (in this order, before ``backends``) whether
#: installed or not.
_OPTIONAL = {
    "conformance": _Optional(
        help="run the conformance suite (gpuhash-conformance) on a backend",
        what="the conformance suite",
        install="python -m pip install ./conformance, in a gpuhash checkout",
    ),
}


def not_installed(name: str) -> UsageError:
    """The error of the repository's optional command ``name`` when its distribution (or a
    module it needs) is not installed: what it is and how to install it."""
    known = _OPTIONAL[name]
    return UsageError(f"{known.what} is not installed; install it with: {known.install}")


def needed(argv: Sequence[str], built_in: Collection[str]) -> bool:
    """Whether parsing ``argv`` may need the commands of other distributions: unless its
    command is one of ``built_in`` with no request for help before it (then the other commands
    change neither the parse nor any message)."""
    takes_value = False
    for i, arg in enumerate(argv):
        if takes_value:  # the value of --log-level
            takes_value = False
            continue
        if arg == "--":
            return i + 1 >= len(argv) or argv[i + 1] not in built_in
        if arg.startswith("--"):
            name = arg.partition("=")[0]
            if len(name) > 2 and "--help".startswith(name):
                return True
            takes_value = "=" not in arg and len(name) > 2 and "--log-level".startswith(name)
            continue
        if arg.startswith("-") and arg != "-":
            if "h" in arg[1:]:  # -h, or with other flags (-vh)
                return True
            continue
        return arg not in built_in
    return True  # no command: the usage error or the help names them all


def find() -> dict[str, EntryPoint]:
    """The entry points of ``gpuhash.commands`` by name (the first of each name); nothing is
    imported."""
    from importlib.metadata import entry_points  # not at import time: it costs ~20 ms

    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def add_optional(add_parser: AddParser, found: Mapping[str, EntryPoint]) -> None:
    """The parsers of the repository's optional commands: installed, or saying how to be."""
    for name in _OPTIONAL:
        _add(add_parser, name, found.get(name))


def add_others(
    add_parser: AddParser, found: Mapping[str, EntryPoint], taken: Collection[str]
) -> None:
    """The parsers of every other command ``found`` names, by name, except those ``taken``."""
    for name in sorted(set(found) - set(taken) - set(_OPTIONAL)):
        _add(add_parser, name, found[name])


def _add(add_parser: AddParser, name: str, ep: EntryPoint | None) -> None:
    """The parser of ``name``: the command ``ep`` names, or one that says why it cannot run."""
    known = _OPTIONAL.get(name)
    if ep is not None:
        try:
            command: Command = ep.load()
            _rehearse(command)
        except Exception as e:  # another distribution's code: any failure is its own
            if known is None:
                reason = str(e).splitlines()[0] if str(e) else type(e).__name__
                why = UsageError(f"the command {name!r} ({ep.value}) cannot be loaded: {reason}")
                _add_failing(add_parser, name, "(cannot be loaded)", str(why), why)
                return
        else:
            p = add_parser(name, help=command.help, description=command.description)
            command.configure(p)
            p.set_defaults(func=command.run)
            return
    if known is not None:
        why = not_installed(name)
        _add_failing(add_parser, name, known.help, f"{why}.", why)


def _rehearse(command: Command) -> None:
    """Build ``command``'s parser once on its own, with the global options every command gets,
    so that a command which cannot be set up fails here, alone, and not the whole parser."""
    from gpuhash.cli.options import global_options

    probe = argparse.ArgumentParser(add_help=True)
    str(command.help)
    str(command.description)
    command.configure(probe)
    global_options(probe, top=False)
    if not callable(command.run):
        raise TypeError("its run is not callable")


def _add_failing(
    add_parser: AddParser, name: str, help: str, description: str, why: UsageError
) -> None:
    """A command that cannot run: it takes any arguments and fails with ``why``."""
    p = add_parser(name, help=help, description=description)
    p.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def fail(args: argparse.Namespace) -> NoReturn:
        raise why

    p.set_defaults(func=fail)
