"""``python -m seggal models list|pull|import``: the catalogue of published models, pulling them into the
Hugging Face cache, and converting a hand-downloaded file into a SegGal checkpoint folder."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, pull or import the published models (the paper's and generalists)")
    cmds = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    ls = cmds.add_parser("list", help="every catalogue model with its source and state (ready / downloadable / unavailable)")
    ls.add_argument("--json", action="store_true", help="print a JSON list of objects")
    ls.set_defaults(run=run_list)
    pl = cmds.add_parser("pull", help="download, convert and cache a model (Hub mirror first, then the original)")
    pl.add_argument("method", nargs="?", help="registry id or the paper's name (not with --all)")
    pl.add_argument("--task", help="task id, e.g. tissuenet-nuclei-dual")
    pl.add_argument("--train-set", dest="training_set", help="'All', a tissue / cell line, or a generalist's name")
    pl.add_argument("--all", action="store_true", help="pull every downloadable model")
    pl.add_argument("--source", choices=("paper", "hub"), help="only the original source, or only the Hub mirror")
    pl.set_defaults(run=run_pull)
    im = cmds.add_parser("import", help="convert a downloaded file or folder into a SegGal checkpoint folder")
    im.add_argument("path", help="the file or folder as its source publishes it")
    im.add_argument("--method", required=True)
    im.add_argument("--task", required=True)
    im.add_argument("--train-set", dest="training_set", required=True)
    im.add_argument("--out", required=True, help="the checkpoint folder to write")
    im.set_defaults(run=run_import)


def rows() -> list[dict]:
    """One dict per gallery record of the model zoo (:func:`seggal.gallery.catalogue`, then the local
    checkpoints): method, task, training_set, source (``paper`` / ``generalist`` / ``local``), state, reason,
    reference, label, url, usage_guide, size_bytes (None when unknown), accuracy (the published one; None
    for generalists and local models)."""
    from dataclasses import asdict

    from seggal import gallery
    from seggal.results import load_scores

    scores = load_scores().set_index(["method_id", "task", "training_set"])["accuracy"].to_dict()
    out = []
    for entry in (*gallery.catalogue(), *gallery.local_entries()):
        record = asdict(entry)
        record.pop("data")
        record["accuracy"] = scores.get((entry.method, entry.task, entry.training_set)) if entry.source == "paper" else None
        out.append(record)
    return out


def run_list(args: argparse.Namespace) -> int:
    from seggal.cli import print_json

    table = rows()
    if args.json:
        print_json(table)
        return 0
    print(f"{'method':<16}{'task':<31}{'training set':<22}{'source':<12}{'state':<14}reason")
    for r in table:
        print(f"{r['method']:<16}{r['task']:<31}{r['training_set']:<22}{r['source']:<12}{r['state']:<14}{r['reason']}")
    return 0


class _Bar:
    """A tqdm byte bar, opened at the first ``(done, total)`` progress call (none for a pull that fails first)."""

    def __init__(self):
        self.bar = None

    def __call__(self, done: int, total: int | None) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(unit="B", unit_scale=True, leave=False)
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_pull(args: argparse.Namespace) -> int:
    from seggal import gallery
    from seggal.errors import SegGalError

    if args.all:
        if args.method or args.task or args.training_set:
            raise SegGalError("models pull: give either --all or METHOD --task TASK --train-set SET")
        entries = [e for e in gallery.catalogue() if e.state == "downloadable"]
    else:
        if not (args.method and args.task and args.training_set):
            raise SegGalError("models pull: give METHOD --task TASK --train-set SET (or --all)")
        entries = [gallery.catalogue_entry(args.method, args.task, args.training_set)]
    failed = 0
    for entry in entries:
        name = f"{entry.method} / {entry.task} / {entry.training_set}"
        bar = _Bar()
        try:
            pulled = gallery.pull(entry, source=args.source, progress=bar)
        except SegGalError as exc:
            if not args.all:
                raise
            print(f"error: {name}: {exc}")
            failed += 1
            continue
        finally:
            bar.close()
        print(f"{name}: ready ({pulled.reference}); run it with: python -m seggal segment IMAGE --method "
              f"{entry.method} --checkpoint {pulled.reference}")
    return 2 if failed else 0


def run_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from seggal.errors import SegGalError
    from seggal.zoo.catalogue import find_entry, load_catalogue
    from seggal.provenance import sha256_file, sha256_tree

    path = Path(args.path)
    if not path.exists():
        raise SegGalError(f"{path}: no such file or folder")
    try:
        entry = find_entry(load_catalogue(), args.method, args.task, args.training_set)
    except SegGalError:
        entry = {"url": None, "source": "paper", "format": None}  # not a catalogue model: no source link
    try:
        from seggal.zoo.convert import convert
    except ImportError:
        raise SegGalError("this SegGal has no converters yet (seggal.zoo.convert)") from None
    digest = sha256_tree(path) if path.is_dir() else sha256_file(path)
    out = convert(path, method=args.method, task=args.task, training_set=args.training_set, out=Path(args.out),
                  source_url=entry["url"], sha256=digest, generalist=entry["source"] == "generalist",
                  source_format=entry["format"])
    print(f"{out} (from {path}, SHA-256 {digest})")
    return 0
