"""How commands take their options and arguments, and the option groups several commands share.

Conventions every command follows (use these helpers for new options and arguments):

- An option model_signing spells with underscores (``--allow_symlinks``) is accepted under both
  spellings: add it with ``option``.
- An option taking several values is added with ``values``: one occurrence takes the values
  that follow it up to the next option (or ``--``), and it may be repeated, so
  ``--ignore-paths a b`` and model_signing's ``--ignore-paths a --ignore-paths b`` are the same.
- A command's paths are added with ``positional``. When some are not given on their own
  because an option's values ran on to the end, they are the last values of the last
  occurrence that took more than one: ``digest --ignore-paths a b DIR`` hashes DIR without a
  and b, and model_signing's ``--ignore-paths a DIR`` means what it means there.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from gpuhash.algorithms import DEFAULT_FAMILY, FAMILIES
from gpuhash.cli.progress import LOG_LEVELS

#: ``add_parser`` of the command-line's subcommands (``add_subparsers().add_parser``): a
#: command's name and ``help``/``description`` in, its new parser out.
AddParser = Callable[..., argparse.ArgumentParser]

_VALUE_RUNS = "_value_runs"
_POSITIONALS = "_positionals"
_POSITIONALS_PARSER = "_positionals_parser"


class _Values(argparse.Action):
    """``nargs="+"`` values, added to those of earlier occurrences; each occurrence is
    remembered (in order) so that ``fill_positionals`` can take paths from the end of one."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        given = [values] if isinstance(values, str) else list(values or [])
        current = [*(getattr(namespace, self.dest, None) or []), *given]
        setattr(namespace, self.dest, current)
        runs: list[tuple[str, int, int]] | None = getattr(namespace, _VALUE_RUNS, None)
        if runs is None:
            runs = []
            setattr(namespace, _VALUE_RUNS, runs)
        runs.append((self.dest, len(current), len(given)))


def option(parser: argparse.ArgumentParser, name: str, **kwargs: object) -> argparse.Action:
    """An option under its gpuhash spelling and model_signing's underscore spelling."""
    names = [name] + (["--" + name[2:].replace("-", "_")] if "-" in name[2:] else [])
    return parser.add_argument(*names, **kwargs)  # type: ignore[arg-type]


def values(parser: argparse.ArgumentParser, name: str, **kwargs: object) -> argparse.Action:
    """An option taking one or more values, repeatable (see the conventions above)."""
    return option(parser, name, nargs="+", action=_Values, default=[], **kwargs)


def positional(
    parser: argparse.ArgumentParser, dest: str, metavar: str, help: str, required: bool = True
) -> None:
    """A positional argument that may also be the last value of a multi-value option."""
    action = parser.add_argument(dest, metavar=metavar, help=help)
    # Never required while parsing, so that argparse leaves a missing one to
    # fill_positionals, which looks at the option values first.
    action.required = False
    known: list[tuple[str, str, bool]] = list(parser.get_default(_POSITIONALS) or [])
    parser.set_defaults(**{_POSITIONALS: [*known, (dest, metavar, required)]})
    parser.set_defaults(**{_POSITIONALS_PARSER: parser})  # whose usage an error shows


def fill_positionals(args: argparse.Namespace) -> None:
    """Complete ``args`` as the conventions above say; a usage error (exit 2) when a required
    positional argument is still missing."""
    runs: list[tuple[str, int, int]] = vars(args).pop(_VALUE_RUNS, [])
    declared: list[tuple[str, str, bool]] = vars(args).pop(_POSITIONALS, [])
    parser: argparse.ArgumentParser | None = vars(args).pop(_POSITIONALS_PARSER, None)
    missing = [
        (dest, metavar, req) for dest, metavar, req in declared if getattr(args, dest) is None
    ]
    if not missing or parser is None:
        return
    for dest, end, count in reversed(runs):
        if count > 1:
            given: list[str] = getattr(args, dest)
            take = min(len(missing), count - 1)
            taken = given[end - take : end]
            del given[end - take : end]
            for (name, _, _), value in zip(missing, taken, strict=False):
                setattr(args, name, value)
            break
    absent = [metavar for name, metavar, req in missing if req and getattr(args, name) is None]
    if absent:
        parser.error(f"the following arguments are required: {', '.join(absent)}")


def hash_options(parser: argparse.ArgumentParser) -> None:
    """PATH and how a command hashes it: algorithm, leaf size, backend, device, walk, objects."""
    positional(parser, "path", "PATH", "a model file or directory")
    parser.add_argument(
        "-a",
        "--algorithm",
        metavar="ID",
        help=f"a family ({', '.join(FAMILIES)}) or an identifier such as "
        f"gh1-{DEFAULT_FAMILY}-64k (default: {DEFAULT_FAMILY})",
    )
    parser.add_argument(
        "-l",
        "--leaf-size",
        metavar="N",
        help="leaf size in bytes, a power of two from 1k to 16m: 65536, 64k, 64KiB, 1m "
        "(default: 64k, or the one in the identifier)",
    )
    parser.add_argument(
        "-b",
        "--backend",
        metavar="NAME",
        default="auto",
        help="backend to hash with (default: auto); see `gpuhash backends`",
    )
    parser.add_argument(
        "--device",
        metavar="DEV",
        help="the backend's device, for backends that have a choice (opencl: a 'P:D' index "
        "pair or part of the name shown by `gpuhash backends`)",
    )
    walk_options(parser, "PATH")
    parser.add_argument(
        "--objects",
        choices=("files", "tensors"),
        help="files: one object per file (default); tensors: each tensor of a .safetensors "
        "file is an object of its own, named FILE::TENSOR, and its header is FILE::__metadata__",
    )
    mmap_options(parser)


def mmap_options(parser: argparse.ArgumentParser) -> None:
    """``--mmap`` and ``--no-mmap`` (the default), into ``args.no_mmap``."""
    parser.add_argument(
        "--mmap",
        dest="no_mmap",
        action="store_false",
        default=True,
        help="memory-map files instead of reading them (less CPU time); only for files no "
        "other process truncates while they are hashed: a truncated mapping kills the process",
    )
    parser.add_argument(
        "--no-mmap",
        dest="no_mmap",
        action="store_true",
        default=True,
        help="read files with pread (the default): a file truncated meanwhile is an error",
    )


def walk_options(parser: argparse.ArgumentParser, model: str) -> None:
    """The options that decide which files are the model's (spec section 1.2)."""
    values(
        parser,
        "--ignore-paths",
        metavar="P",
        help=f"paths to leave out: relative to {model}, or to the current directory when they "
        f"name a path inside {model} from there (as model_signing takes them), or absolute "
        "(besides .git, .github, .gitattributes, .gitignore and .cache/huggingface); "
        "repeatable",
    )
    parser.add_argument(
        "--ignore-git-paths",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="leave out .git, .github, .gitattributes and .gitignore (default: yes)",
    )
    option(
        parser,
        "--allow-symlinks",
        action="store_true",
        help=f"hash symbolic links that point inside {model} (as the target's bytes under the "
        f"link's name); links leaving {model} are refused. A Hugging Face cache snapshot's "
        "links to its blobs are followed without it",
    )
    parser.add_argument(
        "--link-root",
        metavar="DIR",
        help=f"allow symbolic links that resolve anywhere inside DIR, a directory containing "
        f"{model}; links leaving DIR are refused",
    )


def verify_hash_options(p: argparse.ArgumentParser) -> None:
    """How `verify` and `check` hash the model and what they compare."""
    p.add_argument("-b", "--backend", metavar="NAME", default="auto", help="backend to hash with")
    p.add_argument("--device", metavar="DEV", help="the backend's device")
    walk_options(p, "MODEL")
    values(
        p,
        "--only",
        metavar="PATTERN",
        help="check only the listed objects whose names match (shell-style: '*', '?', "
        "'[...]'; a tensor is FILE::TENSOR), reading only their bytes",
    )
    p.add_argument(
        "--objects",
        choices=("files", "tensors"),
        help="the object model the signature or manifest must use (default: whichever it uses)",
    )


def global_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """``-v``, ``--log-level``, ``--progress``: accepted before the command and after it (the
    command's parser leaves them unset unless given, so it does not undo the global ones)."""
    unset = {} if top else {"default": argparse.SUPPRESS}
    group = parser.add_argument_group("output")
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        **({"default": 0} if top else unset),
        help="say more on stderr: -v which backend was chosen and why others were not, "
        "kernel builds; -vv debugging detail",
    )
    group.add_argument(
        "--log-level",
        choices=tuple(LOG_LEVELS),
        type=str.lower,
        **({"default": None} if top else unset),
        help="the least severe log records shown on stderr (default: warning; overrides -v)",
    )
    group.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        **({"default": None} if top else unset),
        help="a progress line on stderr (default: when stderr is a terminal and the input is "
        "64 MiB or more); it also says when kernels are being built",
    )
