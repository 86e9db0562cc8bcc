"""The models catalogue: every paper key matches the scores table, values equal the authors' link table."""

from __future__ import annotations

import csv
import hashlib
import io

import pytest

from seggal.errors import SegGalError
from seggal.results import PUBLISHED_SCORES
from seggal.zoo.catalogue import COLUMNS, PUBLISHED_MODELS, find_entry, load_catalogue

#: SHA-256 of ../shared/published/seggal_models.csv (the authors' 138 Drive links) the table was made from.
SHARED_MODELS_SHA256 = "1f05d155fbc077f735c05f89513e7f5c3fccb9615c58ea834ffa37b45d68b206"
SHARED_COLUMNS = ("dataset", "modality", "target", "input_channels", "training_set", "method", "drive_kind",
                  "drive_id", "url", "usage_guide")


def test_paper_keys_are_exactly_the_scores_keys():
    with PUBLISHED_SCORES.open(newline="", encoding="utf-8") as handle:
        scores = {(r["method_id"], r["task"], r["training_set"]) for r in csv.DictReader(handle)}
    table = load_catalogue()
    paper = table[table["source"] == "paper"]
    keys = list(zip(paper["method_id"], paper["task"], paper["training_set"]))
    assert len(keys) == 138 == len(set(keys))
    assert set(keys) == scores


def test_paper_rows_carry_the_shared_table_unchanged():
    """Rebuild the authors' link table from the paper rows, byte for byte, and compare its recorded SHA-256
    (so the check runs without ../shared)."""
    with PUBLISHED_MODELS.open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["source"] == "paper"]
    out = io.StringIO(newline="")
    writer = csv.writer(out)  # the shared file's dialect: excel, CRLF
    writer.writerow(SHARED_COLUMNS)
    writer.writerows([[r[c] for c in SHARED_COLUMNS] for r in rows])
    assert hashlib.sha256(out.getvalue().encode("utf-8")).hexdigest() == SHARED_MODELS_SHA256


def test_duplicated_link_and_generalists_are_labelled():
    table = load_catalogue()
    shared = table[table["drive_id"] == "1tkqJDjfVXgDwu9QupWFtOni9ApepoOPN"]
    assert sorted(shared["training_set"]) == ["Breast", "Pancreas"]
    assert all("wrong model" in n for n in shared["notes"])
    generalists = table[table["source"] == "generalist"]
    assert {"cyto3", "nuclei", "tissuenet_cp3", "livecell_cp3", "2D_versatile_fluo", "vit_b", "vit_h",
            "vit_b_lm"} == set(generalists["training_set"])
    assert all(n.startswith("generalist, not from the paper") for n in generalists["notes"])


def test_generalist_urls_are_the_packages_own():
    import cellpose.models
    from stardist.models import StarDist2D
    from csbdeep.models.pretrained import _MODELS

    table = load_catalogue().set_index("training_set")
    for name in ("cyto3", "tissuenet_cp3", "livecell_cp3"):
        assert set(table.loc[[name], "url"]) == {f"{cellpose.models._MODEL_URL}/{name}"}
    assert set(table.loc[["nuclei"], "url"]) == {f"{cellpose.models._MODEL_URL}/nucleitorch_0"}
    info = _MODELS[StarDist2D]["2D_versatile_fluo"]  # what stardist.models registers (register_model)
    assert table.loc["2D_versatile_fluo", "url"] == info["url"]
    assert table.loc["2D_versatile_fluo", "sha256"] == info["hash"]


def test_bad_rows_name_line_and_column(tmp_path):
    lines = PUBLISHED_MODELS.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    bad = lines[3].split(",")
    bad[header.index("format")] = "onnx"
    path = tmp_path / "models.csv"
    path.write_text("\n".join([lines[0], *lines[1:3], ",".join(bad), *lines[4:]]) + "\n", encoding="utf-8")
    with pytest.raises(SegGalError, match=r"line 4, column 'format'"):
        load_catalogue(path)
    path.write_text("\n".join(lines[:50] + lines[51:]) + "\n", encoding="utf-8")
    with pytest.raises(SegGalError, match="do not match the published scores"):
        load_catalogue(path)
    assert tuple(load_catalogue().columns) == COLUMNS


def test_find_entry():
    table = load_catalogue()
    assert find_entry(table, "Swin-S", "nuclei-nuclear", "Pancreas")["drive_id"] == "1tkqJDjfVXgDwu9QupWFtOni9ApepoOPN"
    with pytest.raises(SegGalError, match="known: All"):
        find_entry(table, "cellpose", "livecell-wholecell", "A172")


def test_paper_mmdet_models_are_downloadable_rf_next_with_its_pinned_structure_json():
    """Every paper MMDetection method is downloadable (RF-Next too: its rows list the searched-structure json of
    the benchmark repository, at a pinned commit with its SHA-256, as an extra file the pull fetches); when
    MMDetection is not installed, that reason comes first."""
    import re

    from seggal import gallery
    from seggal.methods import availability
    from seggal.zoo.catalogue import extra_files
    from seggal.zoo.convert import ARCHITECTURE_MISMATCH

    assert set(ARCHITECTURE_MISMATCH) == {"resnest"}  # detectron2 (its own test below)
    table = load_catalogue()
    extras = {extra_files(row) for row in table.to_dict("records") if row["extra_files"]}
    assert set(table[table["extra_files"] != ""]["method_id"]) == {"rf-next"} and len(extras) == 1
    [[structure]] = extras
    assert re.fullmatch(r"https://raw\.githubusercontent\.com/BoomStarcuc/Cell-Segmentation-Benchmark/[0-9a-f]{40}/"
                        r"mmdet_BM/mmdetection/configs/rfnext/search_log/cascade_mask_rcnn_r2_101_fpn_20e_coco/"
                        r"local_search_config_step11\.json", structure.url)
    assert re.fullmatch(r"[0-9a-f]{64}", structure.sha256)
    for method in ("rf-next", "cascade-seesaw", "res2net", "hrnet", "mask-rcnn", "swin-s", "ms-rcnn"):
        entry = gallery.catalogue_entry(method, "tissuenet-nuclei-dual", "All")
        if not availability(method).available:
            assert entry.state == "unavailable" and entry.reason == availability(method).reason
        else:
            assert entry.state in ("downloadable", "ready")


def test_every_paper_resnest_model_shows_why_it_is_not_converted():
    """All five of the paper's ResNeSt rows (detectron2 files) say what differs, not that a converter is missing."""
    from seggal import gallery
    from seggal.methods import availability

    entries = [e for e in gallery.catalogue("resnest") if e.source == "paper"]
    assert len(entries) == 5 and all(e.state == "unavailable" for e in entries)
    if availability("resnest").available:
        assert all(e.reason.startswith("cannot be converted: ") and "ResNeSt-200" in e.reason for e in entries)
        assert not any("no converter" in e.reason for e in entries)


def test_bad_extra_files_name_line_and_column(tmp_path):
    lines = PUBLISHED_MODELS.read_text(encoding="utf-8").splitlines()
    i = next(k for k, line in enumerate(lines) if "#sha256=" in line)
    for bad, why in (("#sha256=", "#sha256=ABC"), ("https://raw", "http://raw")):
        path = tmp_path / "models.csv"
        path.write_text("\n".join([*lines[:i], lines[i].replace(bad, why, 1), *lines[i + 1:]]) + "\n", encoding="utf-8")
        with pytest.raises(SegGalError, match=rf"line {i + 1}, column 'extra_files'"):
            load_catalogue(path)
