"""``python -m seggal evaluate --gt A --pred B [--json]``: the paper's COCO metrics for label images.

A and B are label-image files (TIFF, PNG, NPY) or folders; folders are paired by file name without its
suffix (``gt/img1.tif`` pairs with ``pred/img1.png``). Evaluation never imports torch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seggal.errors import SegGalError


def add_parser(sub: argparse._SubParsersAction) -> None:
    from seggal.metrics import RANKING_RULE

    p = sub.add_parser("evaluate", help="score predicted label images against ground truth (COCO mAP, AP, AR)",
                       description=f"COCO metrics as in the paper. {RANKING_RULE}")
    p.add_argument("--gt", required=True, help="ground-truth label image, or a folder of them")
    p.add_argument("--pred", required=True, help="predicted label image, or a folder of them (same file names); "
                   "a NAME.scores.csv beside a prediction gives its cells' confidences")
    p.add_argument("--engine", default="fast", choices=("fast", "pycocotools"),
                   help="fast (exact, default) or the pycocotools reference")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def label_files(first: str, second: str, roles: tuple[str, str] = ("ground truth", "prediction")):
    """Pair two label-image files, or two folders by file stem → (names, [first paths], [second paths]).

    Raises :class:`SegGalError` listing unmatched names, duplicate stems, or a file/folder mix.
    """
    from seggal.io import IMAGE_SUFFIXES

    a, b = Path(first), Path(second)
    for path, role in ((a, roles[0]), (b, roles[1])):
        if not path.exists():
            raise SegGalError(f"{path}: {role} not found")
        if not (path.is_file() or path.is_dir()):
            raise SegGalError(f"{path}: {role} is not a regular file or folder (a device, pipe or socket); "
                              "give a label image or a folder of them")
    if a.is_file() and b.is_file():
        return [a.name], [a], [b]
    if a.is_dir() != b.is_dir():
        raise SegGalError(f"{a} and {b}: give two files or two folders, not one of each")

    def by_stem(folder: Path, role: str) -> dict[str, Path]:
        files: dict[str, Path] = {}
        for f in sorted(folder.iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                if f.stem in files:
                    raise SegGalError(f"{folder}: two {role} files named {f.stem!r} ({files[f.stem].name}, {f.name})")
                files[f.stem] = f
        if not files:
            raise SegGalError(f"{folder}: no label images ({', '.join(IMAGE_SUFFIXES)}) in this {role} folder")
        return files

    fa, fb = by_stem(a, roles[0]), by_stem(b, roles[1])
    only_a, only_b = sorted(fa.keys() - fb.keys()), sorted(fb.keys() - fa.keys())
    if only_a or only_b:
        lines = [f"{a} and {b}: file names do not match"]
        lines += [f"  only in {roles[0]} ({a}): {', '.join(only_a)}"] if only_a else []
        lines += [f"  only in {roles[1]} ({b}): {', '.join(only_b)}"] if only_b else []
        raise SegGalError("\n".join(lines))
    names = sorted(fa)
    return names, [fa[n] for n in names], [fb[n] for n in names]


def read_pairs(first: str, second: str, roles: tuple[str, str] = ("ground truth", "prediction")):
    """Read paired label images → (names, first labels, second labels, scores); shapes checked per file
    pair. ``scores`` are the per-cell confidences of the side whose role is "prediction" or "masks" (its
    files' sidecars, :func:`seggal.io.read_scores`; ``None`` where a file has none)."""
    from seggal.io import read_labels, read_scores

    names, pa, pb = label_files(first, second, roles)
    la, lb = [read_labels(p) for p in pa], [read_labels(p) for p in pb]
    for x, y, f, g in zip(la, lb, pa, pb):
        if x.shape != y.shape:
            raise SegGalError(f"{g}: shape {y.shape} does not match {f} {x.shape}")
    predicted = pa if roles[0] in ("prediction", "masks") else pb
    return names, la, lb, [read_scores(p) for p in predicted]


def run(args: argparse.Namespace) -> int:
    from seggal.cli import print_json
    from seggal.metrics import METRICS, RANKING_RULE, evaluate

    names, gts, preds, scores = read_pairs(args.gt, args.pred)
    result = evaluate(gts, preds, scores, engine=args.engine, names=names)
    result["ranked_by_confidence"] = sum(s is not None for s in scores)
    if args.json:
        print_json(result)
        return 0
    print(f"{result['n_images']} image(s), {result['n_gt']} ground-truth and {result['n_pred']} predicted instances")
    for key in METRICS:
        print(f"{key:>9}  {result[key]:.4f}")
    print("COCO segm metrics as in the paper (pycocotools COCOeval, maxDets 3000; accuracy = mean of the five).")
    print(f"{result['ranked_by_confidence']} of {result['n_images']} prediction(s) ranked by their .scores.csv "
          f"confidences, the rest by label order. {RANKING_RULE}")
    return 0
