"""``python -m seggal rank [--task TASK] [--json]``: the paper's Figure 2a table."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rank", help="rank the 18 methods as the paper's Figure 2a does")
    p.add_argument("--task", help="sort by one task's scenario score (Figure 6) instead of overall")
    p.add_argument("--scores", help="scores table to rank (default: the published one)")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from seggal.cli import print_json
    from seggal.ranking import rank_table
    from seggal.results import load_scores
    from seggal.tasks import TASKS

    table = rank_table(load_scores(args.scores) if args.scores else None, task=args.task)
    if args.json:
        print_json(table.to_dict("records"))
        return 0
    columns = ["method"] + [t.id for t in TASKS] + ["usability", "scalability", "overall"]
    columns += ["scenario"] if args.task else []
    headers = ["method"] + [t.label for t in TASKS] + ["usability", "scalability", "overall"]
    headers += ["scenario"] if args.task else []
    widths = [max(len(h), 24 if i == 0 else 6) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for row in table.to_dict("records"):
        cells = [str(row["method"])] + [f"{row[c]:.3f}" for c in columns[1:]]
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths)))
    print("\nSource: published scores, Wang et al. 2024 (bioRxiv); ranking as in the paper's Methods.")
    return 0
