"""The Segment page driven end to end by Streamlit's AppTest: the example (segment, score, sweep,
compare, downloads), uploads good and bad, pre-selection from the Guideline / URL, state across reruns
and between sessions. Real models (the classical baseline), real files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from czi_files import czi_bytes
from streamlit.testing.v1 import AppTest

from seggal.metrics import METRICS

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "pages/segment.py"


def open_page(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180).run()
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def tiff(arr: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, arr)
    return buffer.getvalue()


def png_bomb() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def blobs(shape=(96, 96), n=6) -> tuple[np.ndarray, np.ndarray]:
    """Bright discs on a dark background (uint16) and their label image."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.int32)
    for i in range(n):
        cy, cx = 16 + (i // 3) * 40, 16 + (i % 3) * 30
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= 64] = i + 1
    pixels = (200 + 3000 * (labels > 0) + np.random.default_rng(0).integers(0, 50, shape)).astype(np.uint16)
    return pixels, labels


def texts(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown) + " " + " ".join(c.value for c in at.caption)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture(scope="module")
def example() -> AppTest:
    """The page after one click on the example button (shared: the expensive part runs once)."""
    at = open_page()
    at.button(key="seg_example_button").click().run()
    assert not at.exception, at.exception
    return at


def test_example_click_segments_and_shows_every_result_panel(example):
    at = example
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="seg_method").value == "baseline" or at.selectbox(key="seg_method").value
    cells = int(metric(at, "Cells found"))
    assert cells > 10
    assert f"{cells} cells" in texts(at)
    assert len(at.dataframe) >= 1 and len(at.dataframe[0].value) == cells  # one morphology row per cell
    assert {"size", "convexity", "elongation"} <= set(at.dataframe[0].value.columns)
    # scores against the example's ground truth, between 0 and 1, and the error map
    accuracy = float(metric(at, "accuracy"))
    assert 0.0 < accuracy <= 1.0
    assert any("Error map" in c for image in at.image for c in image.captions)
    assert {"seg_download_tiff", "seg_download_coco", "seg_download_geojson", "seg_download_csv",
            "seg_download_roi"} <= {b.key for b in at.get("download_button")}
    # the synthetic example maps two channels: the caption names both colours
    assert any("nuclear (channel 1) blue, membrane (channel 2) green" in c for i in at.image for c in i.captions)
    # the full checkpoint label sits under the select box (the box itself cuts long labels)
    checkpoint = at.selectbox(key="seg_checkpoint")
    assert checkpoint.format_func(checkpoint.value) in [c.value for c in at.caption]
    # the per-cell table: intensity per channel; no µm² until a pixel size is given
    columns = set(at.dataframe[0].value.columns)
    assert {"mean_channel_1", "integrated_channel_2"} <= columns and "area_um2" not in columns


def test_example_sweep_gives_a_curve_and_a_best_step(example):
    at = example
    at.radio(key="seg_sweep_mode").set_value("dilate").run()
    at.button(key="seg_sweep_button").click().run()
    assert not at.exception
    best = [m.value for m in at.markdown if m.value.startswith("**Best step")]
    assert best and "dilate by" in best[0]
    px = int(best[0].split("dilate by ")[1].split(" px")[0])
    assert 0 <= px <= 10
    at.slider(key="seg_step").set_value(3).run()
    assert any("grown by 3 px" in c for image in at.image for c in image.captions)
    assert any(b.key == "seg_download_step" for b in at.get("download_button"))
    at.slider(key="seg_step").set_value(-2).run()
    assert any("shrunk by 2 px" in c for image in at.image for c in image.captions)


def test_example_overlay_controls_highlight_and_state_survive_reruns(example):
    at = example
    cells = metric(at, "Cells found")
    at.radio(key="seg_style").set_value("filled").run()
    at.slider(key="seg_opacity").set_value(0.3).run()
    at.number_input(key="seg_pick").set_value(2).run()
    captions = [c for image in at.image for c in image.captions]
    assert any("filled at 30% opacity; cell 2 in magenta" in c for c in captions)
    at.run()  # a plain rerun keeps image, result and widgets
    assert metric(at, "Cells found") == cells and not at.exception


def test_example_compare_shows_each_method_with_scores(example):
    at = example
    chosen = at.multiselect(key="seg_compare_methods")
    assert chosen.value and len(chosen.options) >= 1
    at.button(key="seg_compare_button").click().run()
    assert not at.exception
    assert any(s.value for s in at.subheader)
    table = next(d.value for d in at.dataframe if "method" in d.value.columns)  # one row per method
    assert list(table.columns) == ["method", "cells", *METRICS] and len(table) == len(chosen.value)
    assert ((table[list(METRICS)] >= 0) & (table[list(METRICS)] <= 1)).all().all()


def test_a_typed_pixel_size_gives_areas_in_square_micrometres(example):
    at = example
    at.number_input(key="seg_pixel_size").set_value(0.5).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert (table["area_um2"] == table["size"] * 0.25).all()
    header = at.session_state["seg_result"]["files"]["csv"].data.decode().splitlines()[0]
    assert "area_um2" in header.split(",") and "at 0.5 µm/px" in texts(at)
    at.number_input(key="seg_pixel_size").set_value(0.0).run()
    assert "area_um2" not in at.dataframe[0].value.columns


@pytest.mark.parametrize("name, data, words", [
    ("broken.tif", b"II*\x00" + bytes(40), "broken.tif"),
    ("bomb.png", png_bomb(), "decompression bomb"),
    ("zeros.tif", tiff(np.zeros((32, 32), np.uint16)), "blank"),
    ("nan.tif", tiff(np.full((32, 32), np.nan, np.float32)), "NaN"),
    ("truncated.png", b"\x89PNG\r\n\x1a\n\x00\x00", "cannot read"),
    ("slide.czi", b"ZISRAWFILE" + bytes(40), "cannot read with bioio_czi"),
])
def test_bad_uploads_show_a_clear_error_without_traceback(name, data, words):
    at = open_page()
    at.file_uploader(key="seg_upload").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors and words in errors[0] and name in errors[0]
    assert "Traceback" not in errors[0]


def test_upload_map_channels_segment_and_score_an_uploaded_ground_truth():
    pixels, labels = blobs()
    stack = np.stack([pixels, (pixels // 2).astype(np.uint16)])  # (C, H, W), two channels
    at = open_page()
    at.file_uploader(key="seg_upload").set_value(("two.tif", tiff(stack), "image/tiff")).run()
    assert not at.exception and not at.error
    assert "96 × 96 px · 2 channel(s)" in texts(at)
    at.selectbox(key="seg_task").set_value("tissuenet-nuclei-nuclear").run()
    at.selectbox(key="seg_method").set_value("baseline").run()
    at.button(key="seg_run").click().run()
    assert not at.exception and not at.error
    assert int(metric(at, "Cells found")) == 6
    at.file_uploader(key="seg_gt_upload").set_value(("gt.tif", tiff(labels.astype(np.uint16)), "image/tiff")).run()
    assert float(metric(at, "AP50")) == pytest.approx(1.0)
    half = np.where(labels <= 3, labels, 0).astype(np.uint16)  # a new ground truth: scores follow it
    at.file_uploader(key="seg_gt_upload").set_value(("half.tif", tiff(half), "image/tiff")).run()
    assert "3 annotated cells, 6 predicted" in texts(at)
    assert float(metric(at, "AP50")) < 0.99 and float(metric(at, "AR50")) == pytest.approx(1.0)
    at.file_uploader(key="seg_gt_upload").set_value(("small.tif", tiff(labels[:50].astype(np.uint16)),
                                                      "image/tiff")).run()
    assert any("do not match" in e.value for e in at.error)


def test_a_task_needing_an_unmapped_channel_says_so():
    pixels, _ = blobs()
    at = open_page()
    at.file_uploader(key="seg_upload").set_value(("one.tif", tiff(pixels), "image/tiff")).run()
    at.selectbox(key="seg_nuclear").set_value(None).run()
    at.selectbox(key="seg_task").set_value("tissuenet-nuclei-dual").run()
    assert any("nuclear" in e.value for e in at.error)
    assert at.button(key="seg_run").disabled


def test_a_stack_asks_for_a_plane():
    pixels, _ = blobs()
    at = open_page()
    at.file_uploader(key="seg_upload").set_value(("z.tif", tiff(np.stack([pixels] * 5)), "image/tiff")).run()
    assert not at.error
    plane = at.number_input(key="seg_plane")
    assert "stack of 5 planes" in plane.label
    plane.set_value(4).run()
    assert not at.exception and not at.error


def _arrays(value):
    """Every numpy array reachable from a session-state value (dicts, lists, tuples)."""
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _arrays(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _arrays(item)


def test_the_session_keeps_only_the_chosen_float32_plane_of_an_upload():
    pixels, _ = blobs()
    stack = np.stack([pixels + i for i in range(5)])  # (5, 96, 96) uint16, each plane different
    at = open_page()
    at.file_uploader(key="seg_upload").set_value(("z.tif", tiff(stack), "image/tiff")).run()
    at.number_input(key="seg_plane").set_value(4).run()
    assert not at.exception and not at.error
    kept = [a for value in at.session_state.values() for a in _arrays(value)]
    assert kept and all(a.dtype == np.float32 and a.shape == (96, 96, 1) for a in kept), \
        [(a.dtype, a.shape) for a in kept]
    assert any(np.array_equal(a[:, :, 0], stack[3]) for a in kept)  # plane 4, as chosen


def test_the_page_states_the_upload_limits():
    from streamlit import config

    from seggal.io import MAX_BYTES

    at = open_page()
    limit = config.get_option("server.maxUploadSize")
    assert f"{limit} MB" in at.file_uploader(key="seg_upload").help or f"{limit} MB" in texts(at)
    assert f"{MAX_BYTES / 2**20:,.0f} MiB" in texts(at) + at.file_uploader(key="seg_upload").help


def test_guideline_choice_and_url_preselect_the_model():
    pixels, _ = blobs()
    at = open_page(seggal_choice={"method": "stardist", "task": "tissuenet-nuclei-nuclear", "training_set": "All"})
    at.file_uploader(key="seg_upload").set_value(("one.tif", tiff(pixels), "image/tiff")).run()
    assert at.selectbox(key="seg_method").value == "stardist"
    assert at.selectbox(key="seg_task").value == "tissuenet-nuclei-nuclear"
    at.query_params["method"] = "Cellpose"
    at.query_params["task"] = "livecell-wholecell"
    at.run()
    assert at.selectbox(key="seg_method").value == "cellpose"
    assert at.selectbox(key="seg_task").value == "livecell-wholecell"
    at.session_state["seggal_choice"] = {"method": "cellpose", "task": "livecell-wholecell",
                                         "checkpoint": "nobody/not-here@v1"}
    at.query_params.clear()
    at.run()
    assert any("nobody/not-here@v1 is not on this machine" in w.value for w in at.warning)
    labels = at.selectbox(key="seg_method").options
    assert len(labels) == 19 and any("not installed here" in o or "ready" in o for o in labels)


def test_two_sessions_do_not_share_images_or_results(example):
    other = open_page()
    assert "seg_source" not in other.session_state and "seg_result" not in other.session_state
    assert any("Upload an image or load an example" in i.value for i in other.info)
    assert not other.metric


def test_selecting_a_row_of_the_cell_table_highlights_that_cell(example):
    at = example
    at.number_input(key="seg_pick").set_value(0).run()
    at.session_state["seg_cells"] = {"selection": {"rows": [4], "columns": [], "cells": []}}
    at.run()
    label = int(at.dataframe[0].value.iloc[4]["label"])
    assert any(f"cell {label} in magenta" in c for image in at.image for c in image.captions)


def test_real_example_names_its_licence_and_is_segmented_and_scored(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLPOSE_LOCAL_MODELS_PATH", str(tmp_path))  # no published weights: the shipped model leads
    monkeypatch.setenv("SEGGAL_CHECKPOINTS", str(tmp_path))
    at = open_page()
    at.selectbox(key="seg_example").set_value("dsb2018-nuclei").run()
    at.button(key="seg_example_button").click().run()
    assert not at.exception and not at.error
    assert "CC0" in texts(at) and "stardist" in texts(at)
    assert at.selectbox(key="seg_task").value == "tissuenet-nuclei-nuclear"
    # the default is the model shipped in seggal/models/default (StarDist), which beats the baseline here
    assert at.selectbox(key="seg_method").value == "stardist"
    from seggal.gallery import EMBEDDED_DEFAULT

    assert at.selectbox(key="seg_checkpoint").value == str(EMBEDDED_DEFAULT)
    assert any("shipped default" in option for option in at.selectbox(key="seg_checkpoint").options)
    assert int(metric(at, "Cells found")) > 50  # 125 annotated nuclei
    assert float(metric(at, "AP50")) > 0.3


def test_one_score_per_result_panel_sweep_download_and_cli_agree(example, tmp_path, capsys):
    """The scores panel, the sweep's 0 px step and `seggal evaluate` on the downloaded label TIFF + its
    .scores.csv sidecar give the same numbers: one ranking rule (the model's confidence travels with the
    masks)."""
    import json

    from seggal.cli import main
    from seggal.io import write_labels

    at = example
    result = at.session_state["seg_result"]
    panel = result["scores_vs_gt"]
    assert metric(at, "accuracy") == f"{panel['accuracy']:.3f}"
    at.radio(key="seg_sweep_mode").set_value("erode").run()
    at.button(key="seg_sweep_button").click().run()
    zero = at.session_state["seg_sweep"]["table"].set_index("px").loc[0]
    for key in METRICS:
        assert zero[key] == pytest.approx(panel[key], abs=1e-12), key
    files = result["files"]
    assert files["scores"].file_name == files["tiff"].file_name.replace(".tif", ".scores.csv")
    (tmp_path / files["tiff"].file_name).write_bytes(files["tiff"].data)
    (tmp_path / files["scores"].file_name).write_bytes(files["scores"].data)
    write_labels(tmp_path / "gt.tif", at.session_state["seg_gt"])
    assert main(["evaluate", "--gt", str(tmp_path / "gt.tif"), "--pred", str(tmp_path / files["tiff"].file_name),
                 "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli["ranked_by_confidence"] == 1
    for key in METRICS:
        assert cli[key] == pytest.approx(panel[key], abs=1e-12), key


def test_the_raw_image_uploaded_as_ground_truth_gets_a_warning_but_is_kept():
    from seggal.examples import stardist_images

    data = (stardist_images() / "img2d.tif").read_bytes()  # the real DSB image, as image and as "ground truth"
    at = open_page()
    at.file_uploader(key="seg_upload").set_value(("img2d.tif", data, "image/tiff")).run()
    assert not at.warning
    at.file_uploader(key="seg_gt_upload").set_value(("img2d.tif", data, "image/tiff")).run()
    assert not at.exception and not at.error
    warnings = [w.value for w in at.warning]
    assert any("looks like an intensity image" in w for w in warnings), warnings
    assert "233 annotated cells" in texts(at)  # still usable: the user may proceed
    mask = (stardist_images() / "mask2d.tif").read_bytes()
    at.file_uploader(key="seg_gt_upload").set_value(("mask2d.tif", mask, "image/tiff")).run()
    assert not any("intensity image" in w.value for w in at.warning)
    assert "125 annotated cells" in texts(at)


def test_ome_tiff_channel_names_map_the_channels_and_its_pixel_size_gives_square_micrometres():
    pixels, labels = blobs()
    stack = np.stack([(pixels // 2).astype(np.uint16), pixels])  # membrane first, DAPI second
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, stack, ome=True, metadata={
        "axes": "CYX", "Channel": {"Name": ["E-cadherin", "DAPI"]}, "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325})
    at = open_page()
    at.file_uploader(key="seg_upload").set_value(("field.ome.tif", buffer.getvalue(), "image/tiff")).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="seg_nuclear").value == 1 and at.selectbox(key="seg_membrane").value == 0
    assert "channel 2 · DAPI" in at.selectbox(key="seg_nuclear").options
    assert "Channels mapped from the file's channel names (E-cadherin, DAPI)" in texts(at)
    assert at.number_input(key="seg_pixel_size").value == pytest.approx(0.325)
    assert "0.325 µm read from the file's metadata" in texts(at)
    at.selectbox(key="seg_task").set_value("tissuenet-nuclei-nuclear").run()
    at.selectbox(key="seg_method").set_value("baseline").run()
    assert any("nuclear (channel 2 · DAPI) blue, membrane (channel 1 · E-cadherin) green" in c
               for i in at.image for c in i.captions)
    at.button(key="seg_run").click().run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert len(table) == 6
    assert np.allclose(table["area_um2"], table["size"] * 0.325 ** 2, rtol=1e-3)
    cell = labels == labels[16, 16]
    row = table.set_index("label").loc[int(at.session_state["seg_result"]["labels"][16, 16])]
    assert row["mean_DAPI"] == pytest.approx(pixels[cell].mean(), rel=0.05)  # the model's outline, not the truth


def test_the_sweeps_best_step_and_the_preview_are_given_in_micrometres_when_the_pixel_size_is_known(example):
    at = example
    at.number_input(key="seg_pixel_size").set_value(0.5).run()
    at.radio(key="seg_sweep_mode").set_value("dilate").run()
    at.button(key="seg_sweep_button").click().run()
    best = next(m.value for m in at.markdown if m.value.startswith("**Best step"))
    px = int(best.split("dilate by ")[1].split(" px")[0])
    assert f"= {px * 0.5:.3g} µm at 0.5 µm/px" in best
    at.slider(key="seg_step").set_value(4).run()
    assert any("grown by 4 px (2 µm)" in c for image in at.image for c in image.captions)
    at.number_input(key="seg_pixel_size").set_value(0.0).run()


def test_a_czi_upload_maps_its_named_channels_and_its_pixel_size_gives_micrometres():
    pixels, labels = blobs()
    stack = np.stack([(pixels // 2).astype(np.uint16), pixels])  # membrane first, DAPI second
    data = czi_bytes(stack, "CYX", ["E-cadherin", "DAPI"], pixel_um=0.325)
    at = open_page()
    at.file_uploader(key="seg_upload").set_value(("field.czi", data, "application/octet-stream")).run()
    assert not at.exception and not at.error
    assert "**field.czi** · 96 × 96 px · 2 channel(s)" in texts(at)
    assert at.selectbox(key="seg_nuclear").value == 1 and at.selectbox(key="seg_membrane").value == 0
    assert "Channels mapped from the file's channel names (E-cadherin, DAPI)" in texts(at)
    assert at.number_input(key="seg_pixel_size").value == pytest.approx(0.325)
    at.selectbox(key="seg_task").set_value("tissuenet-nuclei-nuclear").run()
    at.selectbox(key="seg_method").set_value("baseline").run()
    at.button(key="seg_run").click().run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert len(table) == 6 and np.allclose(table["area_um2"], table["size"] * 0.325 ** 2, rtol=1e-3)
    at.slider(key="seg_step").set_value(4).run()  # the dilation preview in µm
    assert any("grown by 4 px (1.3 µm)" in c for image in at.image for c in image.captions)
    cell = labels == labels[16, 16]
    row = table.set_index("label").loc[int(at.session_state["seg_result"]["labels"][16, 16])]
    assert row["mean_DAPI"] == pytest.approx(pixels[cell].mean(), rel=0.05)


@pytest.mark.parametrize("name, data, words", [
    ("scan.nd2", b"\xda\xce\xbe\x0a" + bytes(200), "scan.nd2: cannot decode with bioio_nd2"),
    ("tiles.lif", bytes(200), "tiles.lif: cannot read with bioio_lif"),
])
def test_damaged_nd2_and_lif_uploads_reach_their_reader_and_say_why(name, data, words):
    """No genuine ND2 / LIF file exists here (no writer, none shipped): the upload path up to the reader."""
    at = open_page()
    at.file_uploader(key="seg_upload").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors and words in errors[0] and "Traceback" not in errors[0]
