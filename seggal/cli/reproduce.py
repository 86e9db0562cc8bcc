"""``python -m seggal reproduce --data DIR --models paper|DIR --out RUN_DIR [--methods …] [--tasks …] [--limit N]
[--device cuda] [--shard I/N | --slurm FILE --shards N]``: score the paper's models (or a folder of checkpoints,
or the weight-free baseline) on the test splits and write a run folder the Benchmarks page reads
(:mod:`seggal.reproduce`). Re-running resumes: finished (model, task) pairs are skipped.
``python -m seggal reproduce --estimate RUN_DIR [--json]``: the full run's hours of inference, extrapolated from that
(smoke) run's measured images/s (:func:`seggal.reproduce.estimate_summary`)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="score the paper's models on its test data and write a run folder")
    p.add_argument("--data", help="folder from `seggal data pull` (DIR/tissuenet, DIR/livecell) or one dataset's folder "
                                   "(required unless --estimate)")
    p.add_argument("--models", default="paper", help="'paper' (pulled into the Hugging Face cache by `seggal models pull`) "
                                                      "or a folder of SegGal checkpoint folders (default: paper)")
    p.add_argument("--out", help="the run folder (e.g. results/runs/reproduced; required unless --estimate)")
    p.add_argument("--methods", nargs="+", help="registry ids (default: every method); 'baseline' needs no weights")
    p.add_argument("--tasks", nargs="+", help="task ids (default: all five)")
    p.add_argument("--limit", type=int, help="smoke run: only the first N test images of each tissue / cell line")
    p.add_argument("--device", help="cuda, cuda:1, cpu … (default: the backend's choice)")
    p.add_argument("--shard", help="I/N: score models I, I+N, … only and do not assemble (SLURM array tasks)")
    p.add_argument("--slurm", help="write a SLURM array script of --shards tasks to this file, run nothing")
    p.add_argument("--shards", type=int, default=8, help="array tasks of the --slurm script (default 8)")
    p.add_argument("--estimate", metavar="RUN_DIR", help="print the full run's hours of inference from RUN_DIR's "
                                                         "throughput.csv (e.g. a --limit 2 smoke run) and exit")
    p.add_argument("--json", action="store_true", help="with --estimate: print the per-model table as JSON")
    p.set_defaults(run=run)


def _shard(text: str | None) -> tuple[int, int] | None:
    from seggal.errors import SegGalError

    if text is None:
        return None
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise SegGalError(f"--shard {text!r}: give I/N, e.g. 0/8") from None
    return index, count


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from seggal import reproduce as rp
    from seggal.errors import SegGalError
    from seggal.slurm import slurm_script

    if args.estimate:
        return estimate(args)
    missing = [flag for flag, value in (("--data", args.data), ("--out", args.out)) if not value]
    if missing:
        raise SegGalError(f"reproduce needs {' and '.join(missing)} (or --estimate RUN_DIR)")
    models, skipped = rp.plan(args.models, args.methods, args.tasks)
    for reason in skipped:
        print(f"skipped: {reason}")
    if args.slurm:
        argv = ["--data", args.data, "--models", args.models, "--out", args.out]
        for flag, value in (("--methods", args.methods), ("--tasks", args.tasks)):
            argv += [flag, *value] if value else []
        argv += ["--limit", str(args.limit)] if args.limit else []
        argv += ["--device", args.device] if args.device else []
        script = slurm_script(rp.slurm_commands(argv, args.shards), hours=12, job_name="seggal-reproduce",
                              writer="python -m seggal reproduce --slurm",
                              note="Re-running resumes; when all tasks end, run the same reproduce command without "
                                   "--slurm to assemble the run folder.")
        Path(args.slurm).write_text(script, encoding="utf-8")
        print(f"wrote {args.slurm}: {args.shards} array task(s) over {len(models)} model(s)")
        return 0
    shard = _shard(args.shard)
    rp.reproduce(args.data, rp.shard_of(models, shard), args.out, limit=args.limit, device=args.device,
                 morphology=shard is None or shard[0] == 0)
    if shard is not None:
        print(f"shard {shard[0]}/{shard[1]} done; run without --shard to assemble {args.out}")
        return 0
    result = rp.assemble(args.out, args.data, models=args.models, device=args.device)
    flagged = result.comparison[result.comparison["flagged"] == "yes"]
    print(f"{args.out}: {result.meta['kind']} run, {len(result.per_tissue)} per-tissue rows, "
          f"{len(result.comparison)} comparison(s) with the paper, {len(flagged)} off by more than {rp.TOLERANCE}")
    return 0


def estimate(args: argparse.Namespace) -> int:
    from seggal.cli import print_json
    from seggal.reproduce import estimate_summary

    table, text = estimate_summary(args.estimate)
    if args.json:
        print_json({"summary": text, "models": table.astype(object).where(table.notna(), None).to_dict("records")})
        return 0
    for method, rows in table.groupby("method_id", sort=False):
        timed = rows["hours"].notna().all()
        speed = f"{rows['images_per_s'].mean():.3g} images/s" if timed else "not measured"
        hours = f"{rows['hours'].sum():,.1f} h" if timed else "-"
        print(f"{method:<16} {len(rows):>3} model(s)  {speed:<20} {hours}")
    print(text)
    return 0
