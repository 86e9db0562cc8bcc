"""``python -m seggal recommend --modality M --target T --channels C --tissue NAME --compute X --annotations A
[--pixel-size UM | --camera-pixel UM --magnification X | --image FILE.tif] [--json]``: the Guideline's
recommendation (:func:`seggal.guideline.recommend`) as a table with caveats, reasons and advice, or one JSON
object (the rules' records — ties, caveats, pixel-size conversion — plus the text)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from seggal.guideline.answers import ANNOTATIONS, CHANNELS, COMPUTE, MODALITIES, TARGETS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recommend", help="recommend a method, training data and checkpoint for your images")
    # Choices are validated by seggal.guideline.Answers (which also accepts "phase-contrast", "Whole cell" …).
    p.add_argument("--modality", default="fluorescence", help=f"{' | '.join(MODALITIES)} (default fluorescence)")
    p.add_argument("--target", default="nuclei", help=f"{' | '.join(TARGETS)} (default nuclei)")
    p.add_argument("--channels", default="dual", help=f"channels you have: {' | '.join(CHANNELS)} (default dual)")
    p.add_argument("--tissue", default="other", help="tissue or cell line, free text (outside the benchmark → "
                                                     "unmeasured)")
    p.add_argument("--compute", default="limited", help=f"{' | '.join(COMPUTE)} (default limited)")
    p.add_argument("--annotations", default="no", help=f"own annotations of the tissue you segment: "
                                                       f"{' | '.join(ANNOTATIONS)} (default no; none / same_tissue "
                                                       "also accepted)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--pixel-size", metavar="UM", help="your images' pixel size in µm per pixel")
    size.add_argument("--camera-pixel", metavar="UM", help="camera pixel size in µm (with --magnification)")
    size.add_argument("--image", metavar="FILE", help="read the pixel size from a TIFF")
    p.add_argument("--magnification", metavar="X", help="total magnification (objective × relay), with --camera-pixel")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def _pixel_size(args: argparse.Namespace):
    from seggal.errors import SegGalError
    from seggal.guideline.answers import pixel_size_from_optics
    from seggal.io import read_pixel_size

    if args.magnification is not None and args.camera_pixel is None:
        raise SegGalError("--magnification needs --camera-pixel")
    if args.camera_pixel is not None:
        return pixel_size_from_optics(args.camera_pixel, args.magnification)
    if args.image is not None:
        return read_pixel_size(args.image)
    return args.pixel_size


def run(args: argparse.Namespace) -> int:
    from seggal.cli import print_json
    from seggal.guideline import Answers, explain, recommend

    rec = recommend(Answers(args.modality, args.target, args.channels, args.tissue, args.compute, args.annotations,
                            _pixel_size(args)))
    text = explain(rec)
    if args.json:
        print_json(rec.to_dict() | {"text": asdict(text)})
        return 0
    for caveat in text.caveats:
        print(f"! {caveat}")
    print(("\n" if text.caveats else "") + text.headline)
    print(f"({'runs here' if rec.available else 'not runnable here'})\n")
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
    for title, lines in (("How your answers were read", text.notes), ("Why", text.reasons), ("Advice", text.advice)):
        if lines:
            print(f"\n{title}:")
            for line in lines:
                print(f"- {line}")
    print(f"\nUsage guide for {rec.choice.name}: {rec.choice.usage_guide}")
    print("Source: published scores, Wang et al. 2024 (bioRxiv); Figures 3a, 4d, 5 and 6.")
    return 0
