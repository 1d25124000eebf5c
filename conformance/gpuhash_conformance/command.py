"""``gpuhash conformance BACKEND``: the suite's command of the command line, registered through
the entry-point group ``gpuhash.commands`` (``gpuhash.cli.plugins.Command``). Importing this
module imports neither pytest nor Hypothesis: ``gpuhash --help`` imports it to list the command,
and only ``run`` starts the suite (``runner``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from gpuhash.atomic import check_destination
from gpuhash.cli.output import EXIT_ERROR, EXIT_FAILED, EXIT_OK
from gpuhash.cli.plugins import not_installed
from gpuhash.errors import UsageError

if TYPE_CHECKING:
    from gpuhash.cli.plugins import Command


class ConformanceCommand:
    """Run every conformance property on a backend; print a table, optionally a JSON report."""

    help = "run the conformance suite (gpuhash-conformance) on a backend"
    description = (
        "Check BACKEND against the reference with every conformance property; "
        "print a table and exit 0 only if every property passed."
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """BACKEND and the run's options: examples, seed, time limit, report, selection."""
        p = parser
        p.add_argument("backend", metavar="BACKEND", help="a backend name (see `gpuhash backends`)")
        p.add_argument("--max-examples", type=int, default=50, metavar="N", help="per property")
        p.add_argument(
            "--seed",
            type=int,
            metavar="N",
            help="seed of the Hypothesis properties (default: derived from the suite's version, "
            "so every run of one suite version draws the same examples)",
        )
        p.add_argument(
            "--derandomize", action="store_true", help="Hypothesis's own fixed examples instead"
        )
        p.add_argument(
            "--check-timeout",
            type=float,
            metavar="SECONDS",
            help="a check running longer fails with that reason and the run goes on "
            "(default 600; 0: no limit)",
        )
        p.add_argument("--report", metavar="FILE", help="also write the results as JSON to FILE")
        p.add_argument(
            "-k",
            dest="select",
            metavar="EXPR",
            help="only the properties matching this pytest -k expression",
        )
        p.add_argument(
            "--check",
            action="append",
            default=[],
            metavar="NAME",
            help="only this check, as the table names it (e.g. 'test_leaf_counts[blake3]'; "
            "repeatable): what a failure's replay command uses",
        )

    def run(self, args: argparse.Namespace) -> int:
        """Run the suite on ``args.backend``: 0 if every property passed, 1 if one failed, 2 if
        the suite could not run."""
        try:
            from gpuhash_conformance import runner
        except ImportError:  # pytest or Hypothesis missing: the suite is not really installed
            raise not_installed("conformance") from None
        if args.max_examples < 1:
            raise UsageError(f"--max-examples must be at least 1, not {args.max_examples}")
        if args.report is not None:
            check_destination(args.report, is_report, "conformance report")
        if args.check_timeout is not None and args.check_timeout < 0:
            raise UsageError(f"--check-timeout must be 0 (none) or more, not {args.check_timeout}")
        status = runner.run(
            args.backend,
            max_examples=args.max_examples,
            derandomize=args.derandomize,
            seed=args.seed,
            check_timeout=args.check_timeout,
            report=args.report,
            extra_args=(
                *(() if args.select is None else ("-k", args.select)),
                *(a for name in args.check for a in ("--gpuhash-check", name)),
            ),
        )
        return {0: EXIT_OK, 1: EXIT_FAILED}.get(status, EXIT_ERROR)


def is_report(path: str) -> bool:
    """Whether ``path`` holds a report of this suite (a JSON object naming the suite's
    version), which ``--report`` may replace; no other file is overwritten."""
    import json

    from gpuhash import limits
    from gpuhash.errors import GpuhashError

    try:
        data = json.loads(limits.read_limited(path, REPORT_MAX_BYTES, "conformance report"))
    except (GpuhashError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "suite_version" in data


#: A larger file is no report of this suite (one is a few hundred KiB).
REPORT_MAX_BYTES = 64 << 20


#: The entry point ``conformance`` of ``gpuhash.commands``.
command: Command = ConformanceCommand()
