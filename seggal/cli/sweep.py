"""``python -m seggal sweep --nuclei N --gt W --mode dilate|erode [--method binary|expand] --max-px 10 [--json]``.

Grows nuclear masks (``--mode dilate``) or shrinks whole-cell masks (``--mode erode``; pass them with
``--nuclei`` or its alias ``--masks``) by 0..max-px pixels and scores every step against the ground
truth with the paper's COCO metrics (the paper's Figure 5). Files or folders paired by file name, as
``seggal evaluate``. ``--json`` prints a list with one object per step (``best`` marks the step of
highest accuracy).
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="score nuclei dilated (or cells eroded) by 0..N pixels against ground truth")
    p.add_argument("--nuclei", "--masks", dest="masks", required=True,
                   help="label image(s) to grow (nuclei, --mode dilate) or shrink (whole cells, --mode erode)")
    p.add_argument("--gt", required=True, help="ground-truth label image(s): whole cells for dilate, nuclei for erode")
    p.add_argument("--mode", choices=("dilate", "erode"), default="dilate")
    p.add_argument("--method", choices=("binary", "expand"), default="binary",
                   help="binary: the paper's per-instance binary_dilation; expand: skimage expand_labels (stops at neighbours)")
    p.add_argument("--max-px", type=int, default=10, help="largest step in pixels (default 10, as the paper)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per step")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from seggal.cli import print_json
    from seggal.cli.evaluate import read_pairs
    from seggal.sweeps import SWEEP_COLUMNS, best_step, sweep

    names, masks, gts, scores = read_pairs(args.masks, args.gt, ("masks", "ground truth"))
    table = sweep(masks, gts, mode=args.mode, method=args.method, max_px=args.max_px, names=names, scores=scores)
    best = best_step(table)
    rows = [row | {"px": int(row["px"]), "best": int(row["px"]) == best} for row in table.to_dict("records")]
    if args.json:
        print_json(rows)
        return 0
    verb = f"{args.method} dilation" if args.mode == "dilate" else "binary erosion"
    print(f"{verb} of {len(names)} image(s), scored against the ground truth")
    print("  ".join(f"{c:>8}" for c in SWEEP_COLUMNS))
    for row in rows:
        cells = [f"{row['px']:>8d}"] + [f"{row[c]:8.4f}" for c in SWEEP_COLUMNS[1:]]
        print("  ".join(cells) + ("  <- best" if row["best"] else ""))
    print(f"best step: {best} px (highest accuracy)")
    return 0
