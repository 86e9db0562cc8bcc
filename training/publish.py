"""``python -m training.publish``: push converted or trained SegGal checkpoint folders to the Hugging Face Hub.

    python -m training.publish FOLDER [FOLDER ...] [--all ROOT] [--org ORG] [--tag TAG] [--dry-run]
        [--index CSV] [--private]

Each folder is checked first (complete, well-formed weights, a converted model's card naming its provenance;
:func:`seggal.hub.plan_push`) — one bad folder stops the command before anything is sent. Each is pushed to
``<org>/<repo name>`` (``--org``, else ``SEGGAL_HUB_ORG``) as one commit without its training state, tagged
``--tag`` or the content tag of its files, and recorded in the mirror index (``--index``, else
``SEGGAL_HUB_MIRROR`` or ``results/published/hub_mirror.csv``) that pulls read their pinned revision from.
One line per folder gives the pinned reference ``org/name@<commit>``. ``--dry-run`` lists what would be
pushed. ``--all ROOT``: every checkpoint folder under ROOT (a training run's ``last/`` is skipped).
The Hub token is huggingface_hub's (``HF_TOKEN`` or ``huggingface-cli login``); ``HF_ENDPOINT`` its server.
"""

from __future__ import annotations

import argparse
import sys

from seggal import hub
from seggal.errors import SegGalError


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.publish", description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="*", metavar="FOLDER", help="checkpoint folders to push")
    p.add_argument("--all", metavar="ROOT", help="every checkpoint folder under ROOT")
    p.add_argument("--org", help=f"Hub organisation (default: SEGGAL_HUB_ORG, else {hub.DEFAULT_HUB_ORG})")
    p.add_argument("--tag", help="tag of the pushed commits, e.g. v1 (default: a tag derived from the content)")
    p.add_argument("--dry-run", action="store_true", help="check the folders and list what would be pushed")
    p.add_argument("--index", help="mirror index to update (default: SEGGAL_HUB_MIRROR, else "
                                   "results/published/hub_mirror.csv)")
    p.add_argument("--private", action="store_true", help="create new repositories as private")
    return p.parse_args(argv)


def publish(args: argparse.Namespace) -> int:
    folders = list(args.folders) + (hub.checkpoint_folders(args.all) if args.all else [])
    if not folders:
        raise SegGalError("no checkpoint folder to push: name folders or use --all ROOT")
    plans = [hub.plan_push(folder, org=args.org, tag=args.tag) for folder in folders]
    repos: dict[str, str] = {}
    for plan in plans:
        if plan.repo in repos:
            raise SegGalError(f"{repos[plan.repo]} and {plan.folder} would both be pushed to {plan.repo}; name one")
        repos[plan.repo] = str(plan.folder)
    for plan in plans:
        if args.dry_run:
            print(f"would push {plan.folder} -> {plan.repo} tag {plan.tag}: {', '.join(plan.files)}")
            continue
        commit = hub.push_checkpoint(plan.folder, plan.repo, plan.tag, private=args.private)
        index = hub.record_push(plan, commit, args.index)
        print(f"{plan.repo}@{commit}  (tag {plan.tag}; {plan.folder}; recorded in {index})")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return publish(args)
    except SegGalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
