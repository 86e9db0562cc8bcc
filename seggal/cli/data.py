"""``python -m seggal data info PATH [--images DIR] [--json]``: what a dataset file holds;
``python -m seggal data pull tissuenet|livecell [--source paper|original] --out DIR``: fetch the benchmark's data
(:mod:`seggal.data.pull`)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect datasets (TissueNet .npz, LIVECell .json)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    info = actions.add_parser("info", help="images per tissue / cell type, shapes and channel meaning")
    info.add_argument("path", help="a TissueNet .npz (v1.1 or the paper's preprocessed), a LIVECell .json, or the "
                                   "paper's LIVECell_<split>_all.npz")
    info.add_argument("--images", help="LIVECell: folder holding the TIFFs (default: the nearest images/ folder)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(run=run_info)
    pull = actions.add_parser("pull", help="download the paper's preprocessed test data or the original datasets")
    pull.add_argument("dataset", choices=("tissuenet", "livecell"))
    pull.add_argument("--source", choices=("paper", "original"), default="paper",
                      help="paper: the paper's 256 x 256 sets (Google Drive); original: TissueNet v1.1 (placed by "
                           "hand after its licence step) / LIVECell (its S3 bucket)")
    pull.add_argument("--out", required=True, help="folder; the data lands in OUT/tissuenet/ or OUT/livecell/")
    pull.set_defaults(run=run_pull)


def describe(path: str, images: str | None = None) -> dict:
    """The info dict of a dataset file, dispatched on its suffix."""
    from pathlib import Path

    from seggal.errors import SegGalError

    suffix = Path(path).suffix.lower()
    if suffix == ".npz" and Path(path).name.lower().startswith("livecell_"):
        from seggal.data.livecell_npz import open_livecell_npz

        return open_livecell_npz(path).info()
    if suffix == ".npz":
        from seggal.data.tissuenet import open_tissuenet

        return open_tissuenet(path).info()
    if suffix == ".json":
        from seggal.data.livecell import open_livecell

        return open_livecell(path, images).info()
    raise SegGalError(f"{path}: unknown dataset file type {suffix or '(none)'}; expected a TissueNet .npz or a LIVECell .json")


def run_info(args: argparse.Namespace) -> int:
    from seggal.cli import print_json

    info = describe(args.path, args.images)
    if args.json:
        print_json(info)
        return 0
    print(f"{info['path']}: {info['dataset']} ({info['layout']})")
    if info.get("description"):
        print(f"  description: {info['description']}")
    print(f"  images: {info['n_images']}")
    if "X" in info:
        print(f"  X {tuple(info['X']['shape'])} {info['X']['dtype']}: channels {', '.join(info['X']['channels'])}")
        print(f"  y {tuple(info['y']['shape'])} {info['y']['dtype']}: channels {', '.join(info['y']['channels'])}")
        if info.get("platforms"):
            print(f"  platforms: {', '.join(f'{k} ({v})' for k, v in info['platforms'].items())}")
    else:
        sizes = ", ".join(f"{h} x {w}" for h, w in info["image_shapes"])
        print(f"  image sizes (H x W): {sizes or 'none'}; channel: {info['channels'][0]}")
        print(f"  annotations: {info['n_annotations']}; images folder: {info['image_dir']} "
              f"({info['missing_images']} missing)")
    print("  per tissue / cell type:")
    width = max((len(t) for t in info["tissues"]), default=0)
    for name, count in info["tissues"].items():
        print(f"    {name.ljust(width)}  {count}")
    return 0


def run_pull(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from seggal.data.pull import MANIFEST, pull_dataset

    bars = []

    def bar(name: str, unit: str = "B"):
        progress = tqdm(unit=unit, unit_scale=unit == "B", desc=name, leave=False)
        bars.append(progress)

        def update(done: int, total: int | None) -> None:
            progress.total = total
            progress.update(done - progress.n)

        return update

    try:
        folder = pull_dataset(args.dataset, args.source, args.out, bar)
    finally:
        for progress in bars:
            progress.close()
    print(f"{folder}: complete; files and SHA-256 in {folder / MANIFEST}")
    return 0
