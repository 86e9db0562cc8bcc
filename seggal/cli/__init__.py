"""The ``python -m seggal`` command line: thin argument parsing over the library.

Each sub-command lives in its own module of this package, which defines ``add_parser(subparsers)``
(registering its arguments and ``run`` as the handler) and imports heavy packages only inside ``run``,
so that every command starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from seggal.errors import SegGalError

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ("rank", "recommend", "data", "evaluate", "sweep", "segment", "methods", "models")


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="python -m seggal",
        description="SegGal: choose, run and score cell-segmentation methods from the paper's benchmark.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"seggal.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a :class:`SegGalError` becomes ``error: …`` on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except SegGalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def print_json(obj) -> None:
    """Print ``obj`` as indented JSON (NaN becomes null) on stdout."""
    print(json.dumps(obj, indent=2, allow_nan=False, default=_jsonable))


def _jsonable(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
