"""The five task views over synthetic data and dataset files."""

import json
import subprocess
import sys

import numpy as np
import pytest

from seggal.image import Sample
from seggal.data.synthetic import write_livecell, write_tissuenet_npz
from seggal.data.tasks import load_task, split_counts
from seggal.errors import SegGalError
from seggal.image import ChannelSpec
from seggal.tasks import TASKS, TISSUENET_TISSUES


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_synthetic_views_have_the_task_channels(task):
    view = load_task("synthetic", task.id, "test")
    assert view.synthetic and len(view) == len(view.tissues) == len(view.names)
    sample = view[0]
    assert isinstance(sample, Sample)
    assert sample.image.channels == ChannelSpec.for_input(task.input_channels)
    assert sample.image.pixels.shape[2] == (2 if task.input_channels == "dual" else 1)
    assert sample.labels.shape == sample.image.shape and sample.labels.max() > 0


def test_targets_and_channels_come_from_the_same_field():
    nuclei = load_task("synthetic", "nuclei-dual", "val")[3]
    cells = load_task("synthetic", "wholecell-dual", "val")[3]
    nuclear_only = load_task("synthetic", "nuclei-nuclear", "val")[3]
    membrane_only = load_task("synthetic", "wholecell-wholecell", "val")[3]
    assert np.array_equal(nuclei.image.pixels, cells.image.pixels)
    assert np.array_equal(nuclear_only.image.pixels[:, :, 0], nuclei.image.pixels[:, :, 0])
    assert np.array_equal(membrane_only.image.pixels[:, :, 0], nuclei.image.pixels[:, :, 1])
    assert nuclei.labels.max() == cells.labels.max() and (nuclei.labels > 0).sum() < (cells.labels > 0).sum()


def test_splits_and_training_sets():
    train = load_task("synthetic", "nuclei-dual", "train")
    test = load_task("synthetic", "nuclei-dual", "test")
    assert train.counts() == {t: 2 for t in TISSUENET_TISSUES} and test.counts() == {t: 1 for t in TISSUENET_TISSUES}
    assert not np.array_equal(train[0].image.pixels, test[0].image.pixels)
    lung = load_task("synthetic", "nuclei-dual", "train", training_set="Lung")
    assert lung.tissues == ["Lung", "Lung"] and lung[1].image.name == train[train.tissues.index("Lung") + 1].image.name
    assert len(lung[0:5]) == 2
    with pytest.raises(SegGalError, match="no train images of 'Liver'"):
        load_task("synthetic", "nuclei-dual", "train", training_set="Liver")
    with pytest.raises(SegGalError, match="unknown split"):
        load_task("synthetic", "nuclei-dual", "holdout")
    with pytest.raises(IndexError):
        lung[2]


def test_dataset_folders(tmp_path):
    for split, n in (("train", 3), ("val", 1), ("test", 2)):
        write_tissuenet_npz(tmp_path / "tn" / f"tissuenet_v1.1_{split}.npz", n, (32, 32), ["Breast", "Tonsil"], seed=n)
    counts = split_counts(tmp_path / "tn", "nuclei-nuclear")
    assert counts == {"train": {"Breast": 2, "Tonsil": 1}, "val": {"Breast": 1}, "test": {"Breast": 1, "Tonsil": 1}}
    view = load_task(tmp_path / "tn", "wholecell-dual", "test", training_set="Tonsil")
    assert len(view) == 1 and view[0].image.pixels.shape == (32, 32, 2)
    json_path = write_livecell(tmp_path / "lc", 2, (40, 48), ["BV-2"], seed=0)
    live = load_task(tmp_path / "lc", "livecell-wholecell", "test")
    assert live.counts() == {"BV-2": 2} and live[1].labels.max() > 0
    assert split_counts(json_path, "wholecell") == {"file": {"BV-2": 2}}
    with pytest.raises(SegGalError, match="needs a TissueNet .npz"):
        load_task(json_path, "nuclei-dual")
    with pytest.raises(SegGalError, match="found no LIVECell"):
        load_task(tmp_path / "tn", "wholecell", "test")


def test_cli_data_info(tmp_path, capsys):
    from types import SimpleNamespace

    from seggal.cli import main

    def run_cli(*args):
        code = main(["data", "info", *map(str, args)])
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    npz = write_tissuenet_npz(tmp_path / "test.npz", 3, (32, 32), ["Breast", "Lymph Node"], seed=0)
    paper = write_tissuenet_npz(tmp_path / "paper.npz", 2, (32, 32), ["Colon"], seed=0, layout="paper")
    livecell = write_livecell(tmp_path / "lc", 2, (40, 48), ["MCF7", "A172"], seed=0)
    out = run_cli(npz, "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["n_images"] == 3 and info["tissues"] == {"Breast": 2, "Lymph Node": 1}
    assert info["X"]["shape"] == [3, 32, 32, 2] and info["X"]["channels"][0] == "nuclear"
    assert "paper" in json.loads(run_cli(paper, "--json").stdout)["layout"]
    info = json.loads(run_cli(livecell, "--images", tmp_path / "lc" / "images", "--json").stdout)
    assert info["n_images"] == 2 and info["tissues"] == {"A172": 1, "MCF7": 1} and info["missing_images"] == 0
    assert "synthetic" in info["description"]
    text = run_cli(npz).stdout
    assert "Lymph Node" in text and "nuclear" in text and "images: 3" in text
    bad = run_cli(tmp_path / "absent.npz")
    assert bad.returncode == 2 and "absent.npz: file not found" in bad.stderr


def test_cli_entry_point(tmp_path):
    npz = write_tissuenet_npz(tmp_path / "test.npz", 1, (16, 16), ["Spleen"], seed=0)
    out = subprocess.run([sys.executable, "-m", "seggal", "data", "info", str(npz), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["tissues"] == {"Spleen": 1}


def test_synthetic_nuclei_source():
    from seggal.data.tasks import SYNTHETIC_NUCLEI, SYNTHETIC_NUCLEI_IMAGES

    view = load_task("synthetic-nuclei", "nuclei-nuclear", "val")
    assert len(view) == SYNTHETIC_NUCLEI_IMAGES["val"] and view.synthetic and view.counts() == {SYNTHETIC_NUCLEI: len(view)}
    sample = view[0]
    assert sample.image.pixels.shape == (256, 256, 1) and sample.image.channels == ChannelSpec.for_input("nuclear")
    assert sample.labels.max() > 0 and sample.labels.shape == (256, 256)
    assert not np.array_equal(view[1].labels, load_task("synthetic-nuclei", "nuclei-nuclear", "train")[1].labels)
    assert split_counts("synthetic-nuclei", "nuclei-nuclear")["train"] == {SYNTHETIC_NUCLEI: SYNTHETIC_NUCLEI_IMAGES["train"]}
    with pytest.raises(SegGalError, match="nuclei-nuclear"):
        load_task("synthetic-nuclei", "wholecell-dual", "val")
