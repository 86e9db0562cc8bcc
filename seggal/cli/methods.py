"""``python -m seggal methods [--task TASK] [--json]``: every method, its backend, and whether it is ready here
for a task (its weights on this machine, :mod:`seggal.gallery`) and why not."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from seggal.gallery import DEFAULT_TASK

    p = sub.add_parser("methods", help="list the methods, their backends and whether they run in this installation")
    p.add_argument("--task", default=DEFAULT_TASK,
                   help=f"the task to check weights for (default {DEFAULT_TASK}: what `segment` runs with its default "
                        "channels)")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")
    p.set_defaults(run=run)


def rows(task: str) -> list[dict]:
    """One dict per registry method: id, name, backend, family, attention, in_paper, available (installed),
    ready (:func:`seggal.gallery.ready_entry` for ``task``: runs offline here), weights (what it runs with, or
    why it cannot), reason (why it is not installed)."""
    from seggal import gallery
    from seggal.methods import METHODS, availability

    out = []
    for m in METHODS:
        status = availability(m)
        entry = gallery.entries(m, task)[0]
        out.append({"id": m.id, "name": m.name, "backend": m.backend, "family": m.family, "attention": m.attention,
                    "in_paper": m.in_paper, "available": status.available, "ready": entry.ready,
                    "weights": {"ready": entry.label, "downloadable": f"{entry.label}: downloadable — {entry.reason}",
                                "unavailable": entry.reason}[entry.state], "reason": status.reason})
    return out


def run(args: argparse.Namespace) -> int:
    from seggal.cli import print_json
    from seggal.gallery import default_method
    from seggal.tasks import get_task

    task = get_task(args.task).id
    table = rows(task)
    if args.json:
        print_json(table)
        return 0
    print(f"task {task}")
    print(f"{'method':<16}{'backend':<11}{'family':<12}{'attention':<11}{'installed':<11}{'ready':<7}reason / weights")
    for r in table:
        note = r["reason"] or r["weights"]
        print(f"{r['id']:<16}{r['backend']:<11}{r['family']:<12}{'yes' if r['attention'] else 'no':<11}"
              f"{'yes' if r['available'] else 'no':<11}{'yes' if r['ready'] else 'no':<7}{note}")
    print(f"\ndefault for `segment` on {task}: {default_method(task)} (most accurate published method whose weights "
          "are on this machine)")
    return 0
