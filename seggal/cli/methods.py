"""``python -m seggal methods [--json]``: every method, its backend and whether it runs here (and why not)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("methods", help="list the methods, their backends and whether they run in this installation")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")
    p.set_defaults(run=run)


def rows() -> list[dict]:
    """One dict per registry method: id, name, backend, family, attention, in_paper, available,
    offline (runs without downloading anything: needs no weights or has them on disk), reason."""
    from seggal.backends import offline_checkpoint
    from seggal.methods import METHODS, availability

    out = []
    for m in METHODS:
        status = availability(m)
        out.append({"id": m.id, "name": m.name, "backend": m.backend, "family": m.family, "attention": m.attention,
                    "in_paper": m.in_paper, "available": status.available,
                    "offline": offline_checkpoint(m) is not None, "reason": status.reason})
    return out


def run(args: argparse.Namespace) -> int:
    from seggal.backends import default_method
    from seggal.cli import print_json

    table = rows()
    if args.json:
        print_json(table)
        return 0
    print(f"{'method':<16}{'backend':<11}{'family':<12}{'attention':<11}{'runs here':<11}reason / weights")
    for r in table:
        runs = "yes" if r["available"] else "no"
        note = r["reason"] or ("weights on disk or none needed" if r["offline"] else "needs a checkpoint (train one or download)")
        print(f"{r['id']:<16}{r['backend']:<11}{r['family']:<12}{'yes' if r['attention'] else 'no':<11}{runs:<11}{note}")
    print(f"\ndefault for `segment`: {default_method()} (most accurate published method that runs offline here)")
    return 0
