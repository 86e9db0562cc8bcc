"""``python -m seggal recommend --modality M --target T --channels C --tissue NAME --compute X --annotations A``:
the Guideline's recommendation (:func:`seggal.guideline.recommend`) as a table with reasons, or ``--json``."""

from __future__ import annotations

import argparse

from seggal.guideline import ANNOTATIONS, CHANNELS, COMPUTE, MODALITIES, TARGETS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recommend", help="recommend a method, training data and checkpoint for your images")
    # Choices are validated by seggal.guideline.Answers (which also accepts "phase-contrast", "Whole cell" …).
    p.add_argument("--modality", default="fluorescence", help=f"{' | '.join(MODALITIES)} (default fluorescence)")
    p.add_argument("--target", default="nuclei", help=f"{' | '.join(TARGETS)} (default nuclei)")
    p.add_argument("--channels", default="dual", help=f"channels you have: {' | '.join(CHANNELS)} (default dual)")
    p.add_argument("--tissue", default="other", help="tissue or cell line, free text (unknown → other)")
    p.add_argument("--compute", default="limited", help=f"{' | '.join(COMPUTE)} (default limited)")
    p.add_argument("--annotations", default="none", help=f"{' | '.join(ANNOTATIONS)} (default none)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from seggal.cli import print_json
    from seggal.guideline import Answers, recommend

    rec = recommend(Answers(args.modality, args.target, args.channels, args.tissue, args.compute, args.annotations))
    if args.json:
        print_json(rec.to_dict())
        return 0
    print(f"Task: {rec.task} ({rec.approach})   tissue: {rec.tissue}   training set: {rec.training_set}"
          f"{' + fine-tune on your annotations' if rec.fine_tune else ''}")
    print(f"Checkpoint: {rec.checkpoint} ({'runs here' if rec.available else 'not runnable here'})\n")
    headers = ("#", "method", "accuracy", "usability", "train h", "SegGal", "paper", "Fig 6", "runs here")
    widths = (3, 26, 14, 14, 14, 7, 7, 6, 9)
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for i, m in enumerate(rec.methods, 1):
        cells = (
            str(i), m.name + ("" if m.near_best else " *"),
            f"{m.accuracy:.2f} {m.bands['accuracy']}", f"{m.usability:.2f} {m.bands['usability']}",
            f"{m.training_hours:g} {m.bands['training_hours']}", f"{m.seggal_score:.3f}", f"{m.scenario:.3f}",
            "yes" if m.in_figure6 else "", "yes" if m.available else "no",
        )
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths)))
    print("* accuracy more than the margin below the task's best: not eligible as SegGal's first pick")
    print("\nFigure 6 (paper): " + ", ".join(m.name for m in rec.figure6))
    for title, lines in (("How your answers were read", rec.notes), ("Why", rec.reasons), ("Advice", rec.advice)):
        if lines:
            print(f"\n{title}:")
            for line in lines:
                print(f"- {line}")
    print("\nSource: published scores, Wang et al. 2024 (bioRxiv); Figures 4d, 5 and 6.")
    return 0
