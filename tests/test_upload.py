"""seggal.upload and seggal.examples: decoding uploads (incl. hostile ones), channel mapping, pictures,
result files. Real files written with tifffile / Pillow, real pycocotools and roifile to read results."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from seggal import io as seggal_io
from seggal.errors import SegGalError
from seggal.examples import EXAMPLES, load_example
from seggal.image import ChannelSpec
from seggal.upload import (
    ERROR_CLASSES, HIGHLIGHT_COLOUR, OUTLINE_COLOUR, cli_command, decode, default_mapping, downloads, downsample,
    error_rgb, file_metadata, fitting_task, intensity_warning, load_plane, make_image, n_planes, overlay,
    preview_description, preview_rgb, read_ground_truth, to_pixels,
)


def tiff_bytes(arr: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, arr, **kwargs)
    return buffer.getvalue()


def pil_bytes(arr: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(arr).save(buffer, format=fmt)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height, with no pixel data behind it (a decompression-bomb header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def ramp(shape, dtype=np.uint16) -> np.ndarray:
    return (np.arange(int(np.prod(shape))) % 250 + 1).reshape(shape).astype(dtype)


# ------------------------------------------------------------------------------------ decoding


@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 2), (20, 30, 3), (2, 20, 30), (3, 20, 30)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_tiff_layouts_and_depths_become_hwc_float32(shape, dtype):
    arr = ramp(shape, dtype)
    pixels = to_pixels(decode(tiff_bytes(arr), "cells.tif"), "cells.tif")
    expected = arr if arr.ndim == 2 or arr.shape[-1] <= 3 and arr.shape[0] > 3 else np.moveaxis(arr, 0, -1)
    expected = expected.reshape(20, 30, -1).astype(np.float32)
    assert pixels.dtype == np.float32 and pixels.shape == expected.shape
    np.testing.assert_array_equal(pixels, expected)


@pytest.mark.parametrize("arr", [ramp((24, 32), np.uint8), ramp((24, 32), np.uint16), ramp((24, 32, 3), np.uint8)])
def test_png_round_trips_exactly(arr):
    pixels = to_pixels(decode(pil_bytes(arr, "PNG"), "cells.png"), "cells.png")
    np.testing.assert_array_equal(pixels, arr.reshape(24, 32, -1).astype(np.float32))


def test_jpg_decodes_to_the_right_shape():
    y, x = np.mgrid[0:24, 0:32]
    arr = np.stack([y * 10, x * 8, 255 - x * 8], -1).astype(np.uint8)  # smooth: JPEG keeps it close
    pixels = to_pixels(decode(pil_bytes(arr, "JPEG"), "photo.JPG"), "photo.JPG")
    assert pixels.shape == (24, 32, 3) and pixels.dtype == np.float32
    assert np.abs(pixels - arr).mean() < 10  # lossy, but the same picture


def test_grey_saved_as_rgb_collapses_to_one_channel():
    grey = ramp((16, 16), np.uint8)
    pixels = to_pixels(decode(pil_bytes(np.stack([grey] * 3, -1), "PNG"), "grey.png"), "grey.png")
    assert pixels.shape == (16, 16, 1)
    np.testing.assert_array_equal(pixels[:, :, 0], grey)


@pytest.mark.parametrize("name, data, words", [
    ("cells.bmp", b"BM" + bytes(100), "unsupported file type"),
    ("cells", b"\x00" * 10, "unsupported file type"),
    ("cells.tif", b"", "empty"),
    ("cells.tif", b"II*\x00garbage" * 3, "no image"),
    ("cells.png", b"\x89PNG\r\n\x1a\nnot really", "cannot read"),
    ("cells.jpg", b"\xff\xd8\xff" + bytes(50), "cannot read"),
])
def test_corrupt_or_unsupported_files_get_a_clear_error_naming_the_file(name, data, words):
    with pytest.raises(SegGalError, match=words) as info:
        decode(data, name)
    assert name in str(info.value)


def test_png_bomb_header_is_refused_before_decoding():
    with pytest.raises(SegGalError, match="decompression bomb") as info:
        decode(png_header_only(100_000, 100_000), "bomb.png")
    assert "bomb.png" in str(info.value) and f"{seggal_io.MAX_PIXELS:,}" in str(info.value)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # PIL warns too; SegGal refuses
def test_png_just_over_the_cap_is_refused(monkeypatch):
    monkeypatch.setattr(seggal_io, "MAX_PIXELS", 30 * 30)
    with pytest.raises(SegGalError, match="more than the limit"):
        decode(pil_bytes(ramp((31, 31), np.uint8), "PNG"), "big.png")
    assert decode(pil_bytes(ramp((30, 30), np.uint8), "PNG"), "ok.png").shape == (30, 30)


def test_tiff_over_the_cap_is_refused_from_its_header(monkeypatch):
    monkeypatch.setattr(seggal_io, "MAX_PIXELS", 100)
    with pytest.raises(SegGalError, match="more than the limit"):
        decode(tiff_bytes(np.zeros((64, 64), np.uint8), compression="zlib"), "big.tif")


def test_compressed_stack_of_many_small_planes_is_refused_from_its_header(monkeypatch):
    monkeypatch.setattr(seggal_io, "MAX_PIXELS", 20 * 20)
    data = tiff_bytes(np.zeros((4, 20, 20), np.uint8), compression="zlib")  # 4 planes > 3 planes' worth
    with pytest.raises(SegGalError, match="single plane"):
        decode(data, "stack.tif")
    assert n_planes(decode(tiff_bytes(np.ones((3, 20, 20), np.uint8)), "ok.tif")) == 1  # 3 channels


def header_only_tiff(arr: np.ndarray, **kwargs) -> bytes:
    """A TIFF whose header describes ``arr`` but whose pixel data is cut off: decoding it would fail, so a
    refusal that names the dtype or size proves the header alone was read."""
    data = tiff_bytes(arr, **kwargs)
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        first = min(tif.pages[0].dataoffsets)
    return data[:first]


def many_pages(n: int) -> bytes:
    """A TIFF of ``n`` tiny pages, each its own series (the layout that makes tifffile's series slow)."""
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as tif:
        for i in range(n):
            tif.write(ramp((4, 4), np.uint8) + i % 2)
    return buffer.getvalue()


def test_a_tiff_of_too_many_pages_is_refused_before_its_series_are_built(monkeypatch):
    monkeypatch.setattr(seggal_io, "MAX_PAGES", 40)
    with pytest.raises(SegGalError, match="more than 40 pages") as info:
        decode(many_pages(41), "pages.tif")
    assert "pages.tif" in str(info.value) and "SEGGAL_MAX_PAGES" in str(info.value)
    assert decode(many_pages(40), "ok.tif").shape == (4, 4)  # at the limit: read as before


def test_complex_pixels_are_refused_from_the_header_before_decoding():
    with pytest.raises(SegGalError, match="unsupported pixel type complex128") as info:
        decode(header_only_tiff(np.ones((64, 64), np.complex128)), "complex.tif")
    assert "complex.tif" in str(info.value) and "nothing was decoded" in str(info.value)


def test_a_file_whose_decoded_size_exceeds_the_byte_cap_is_refused_without_decoding(monkeypatch):
    monkeypatch.setattr(seggal_io, "MAX_BYTES", 64 * 64 * 3 * 4)  # float32 fits, float64 does not
    with pytest.raises(SegGalError, match="SEGGAL_MAX_BYTES") as info:
        decode(header_only_tiff(np.ones((64, 64, 3), np.float64), photometric="rgb"), "f64.tif")
    assert f"{64 * 64 * 3 * 8:,} bytes" in str(info.value) and "nothing was decoded" in str(info.value)
    pixels = to_pixels(decode(tiff_bytes(ramp((64, 64, 3), np.float32), photometric="rgb"), "f32.tif"), "f32.tif")
    assert pixels.shape == (64, 64, 3)


def test_an_npy_header_is_checked_before_its_data_is_read(monkeypatch):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<c16", "fortran_order": False, "shape": (64, 64)})
    with pytest.raises(SegGalError, match="unsupported pixel type complex128"):
        seggal_io.read_array(buffer.getvalue(), "complex.npy")  # no data behind the header: never read
    monkeypatch.setattr(seggal_io, "MAX_BYTES", 1000)
    with pytest.raises(SegGalError, match="SEGGAL_MAX_BYTES"):
        seggal_io.read_array(np_bytes(np.ones((20, 20), np.float32)), "big.npy")
    np.testing.assert_array_equal(seggal_io.read_array(np_bytes(ramp((10, 20))), "ok.npy"), ramp((10, 20)))


def np_bytes(arr: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, arr)
    return buffer.getvalue()


def test_load_plane_keeps_only_the_chosen_float32_plane():
    stack = ramp((5, 16, 18))
    pixels, planes = load_plane(tiff_bytes(stack), "z.tif", plane=3)
    assert planes == 5 and pixels.dtype == np.float32 and pixels.shape == (16, 18, 1)
    np.testing.assert_array_equal(pixels[:, :, 0], stack[3])


def test_stack_is_counted_and_one_plane_chosen():
    stack = ramp((5, 16, 18))
    raw = decode(tiff_bytes(stack), "z.tif")
    assert n_planes(raw) == 5
    np.testing.assert_array_equal(to_pixels(raw, "z.tif", plane=3)[:, :, 0], stack[3])
    with pytest.raises(SegGalError, match="plane 6 does not exist"):
        to_pixels(raw, "z.tif", plane=5)
    assert n_planes(decode(tiff_bytes(ramp((16, 18, 3))), "rgb.tif")) == 1


def test_five_dimensional_data_is_refused():
    with pytest.raises(SegGalError, match="2-D images"):
        to_pixels(np.ones((2, 2, 4, 8, 8)), "hyper.tif")


@pytest.mark.parametrize("fill", [0.0, 7.0])
def test_blank_image_is_refused(fill):
    with pytest.raises(SegGalError, match="blank"):
        to_pixels(decode(tiff_bytes(np.full((16, 16), fill, np.float32)), "blank.tif"), "blank.tif")


def test_nan_pixels_are_refused():
    arr = np.ones((16, 16), np.float32)
    arr[3, 4] = np.nan
    with pytest.raises(SegGalError, match="NaN"):
        to_pixels(decode(tiff_bytes(arr), "nan.tif"), "nan.tif")


# ------------------------------------------------------------------------------------ fuzzing

SUFFIXES = ("tif", "png", "jpg")
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_all(data: bytes, name: str) -> np.ndarray | None:
    """decode + to_pixels; returns pixels or None when SegGalError says why (anything else propagates)."""
    try:
        pixels = to_pixels(decode(data, name), name)
    except SegGalError as err:
        assert str(err)
        return None
    assert pixels.dtype == np.float32 and pixels.ndim == 3 and 1 <= pixels.shape[2] <= 3
    assert np.isfinite(pixels).all()
    return pixels


@FUZZ
@given(data=st.binary(max_size=2048), suffix=st.sampled_from(SUFFIXES))
def test_fuzz_random_bytes_raise_only_seggal_errors(data, suffix):
    decode_all(data, f"fuzz.{suffix}")


def _valid_files() -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    arr = rng.integers(1, 60000, (40, 50), dtype=np.uint16)
    return {
        "tif": tiff_bytes(arr),
        "tif-zlib": tiff_bytes(np.stack([arr, arr[::-1]]), compression="zlib"),
        "png": pil_bytes((arr // 256).astype(np.uint8), "PNG"),
        "jpg": pil_bytes(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8), "JPEG"),
    }


VALID = _valid_files()


@FUZZ
@given(kind=st.sampled_from(sorted(VALID)), cut=st.floats(0, 1), flips=st.lists(st.integers(0, 10**6), max_size=4))
def test_fuzz_truncated_or_damaged_valid_files_raise_only_seggal_errors(kind, cut, flips):
    data = bytearray(VALID[kind][: int(len(VALID[kind]) * cut)])
    for where in flips:
        if data:
            data[where % len(data)] ^= 0xFF
    decode_all(bytes(data), f"damaged.{kind.split('-')[0]}")


@st.composite
def arrays(draw):
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=ndim, max_size=ndim)))
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.int16, np.float32, np.float64]))
    values = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32) if dtype in (np.float32, np.float64)
                           else st.integers(0, 255), min_size=1, max_size=8))
    return np.resize(np.asarray(values, dtype=dtype), shape)


@FUZZ
@given(arr=arrays(), suffix=st.sampled_from(SUFFIXES))
def test_fuzz_random_arrays_saved_in_each_format_raise_only_seggal_errors(arr, suffix):
    if suffix == "tif":
        data = tiff_bytes(arr)
    else:
        try:  # Pillow refuses many shape / dtype combinations when *writing*; only readable files matter
            data = pil_bytes(arr, "PNG" if suffix == "png" else "JPEG")
        except (TypeError, ValueError, OSError, KeyError):
            return
    decode_all(data, f"random.{suffix}")


# ------------------------------------------------------------------------------------ ground truth


def test_ground_truth_is_read_and_checked_against_the_image():
    labels = np.zeros((16, 20), np.uint16)
    labels[2:6, 3:8], labels[9:14, 10:18] = 1, 7
    data = tiff_bytes(labels)
    np.testing.assert_array_equal(read_ground_truth(data, "gt.tif", (16, 20)), labels)
    with pytest.raises(SegGalError, match="do not match"):
        read_ground_truth(data, "gt.tif", (20, 16))
    with pytest.raises(SegGalError, match="no cells"):
        read_ground_truth(tiff_bytes(np.zeros((16, 20), np.uint8)), "empty.tif", (16, 20))
    with pytest.raises(SegGalError, match="integers"):
        read_ground_truth(tiff_bytes(np.full((16, 20), 0.5, np.float32)), "float.tif", (16, 20))


# ------------------------------------------------------------------------------------ channels


def test_default_mapping_skips_blank_channels():
    pixels = np.zeros((8, 8, 3), np.float32)
    pixels[:, :, 1] = ramp((8, 8))
    pixels[:, :, 2] = ramp((8, 8))[::-1]
    assert default_mapping(pixels) == (1, 2)
    assert default_mapping(pixels[:, :, 1:]) == (0, 1)
    assert default_mapping(pixels[:, :, :2]) == (1, None)
    assert default_mapping(pixels[:, :, :2], "whole_cell") == (None, 1)


def test_fitting_task_keeps_a_task_the_channels_feed_and_else_picks_one():
    assert fitting_task("livecell-wholecell", None, 0) == "livecell-wholecell"
    assert fitting_task("tissuenet-nuclei-dual", 0, 1) == "tissuenet-nuclei-dual"
    assert fitting_task("tissuenet-nuclei-dual", 0, None) == "tissuenet-nuclei-nuclear"
    assert fitting_task("tissuenet-nuclei-nuclear", None, 0) == "tissuenet-wholecell-wholecell"


def test_make_image_reads_the_channels_the_task_needs():
    pixels = ramp((8, 8, 3)).astype(np.float32)
    assert make_image(pixels, 2, 0, "dual").channels == ChannelSpec(2, 0)
    nuclear = make_image(pixels, 2, 0, "nuclear")
    assert nuclear.channels == ChannelSpec(2, None)
    np.testing.assert_array_equal(nuclear.model_input()[:, :, 0], pixels[:, :, 2])
    assert make_image(pixels, None, 1, "whole_cell").channels == ChannelSpec(None, 1)
    with pytest.raises(SegGalError, match="nuclear channel"):
        make_image(pixels, None, 1, "dual")
    with pytest.raises(SegGalError, match="membrane"):
        make_image(pixels, 0, None, "whole_cell")
    with pytest.raises(SegGalError, match="both channel 2"):
        make_image(pixels, 1, 1, "dual")


# ------------------------------------------------------------------------------------ pictures


def test_preview_stretches_percentiles_and_colours_channels():
    pixels = np.zeros((20, 20, 2), np.float32)
    pixels[:, :10, 0] = 1000.0  # nuclear bright on the left
    pixels[10:, :, 1] = 5.0  # membrane bright at the bottom
    rgb = preview_rgb(pixels, 0, 1)
    assert rgb.dtype == np.uint8 and rgb.shape == (20, 20, 3)
    assert rgb[0, 0, 2] == 255 and rgb[0, 15, 2] == 0  # nuclear → blue
    assert rgb[15, 15, 1] == 255 and rgb[0, 15, 1] == 0  # membrane → green
    grey = preview_rgb(pixels, None, 1)
    assert (grey[:, :, 0] == grey[:, :, 2]).all() and grey[15, 15, 0] == 255


def test_downsample_keeps_labels_exact():
    labels = np.repeat(np.arange(6), 500).reshape(60, 50).astype(np.int32)
    small = downsample(labels, 20)
    assert max(small.shape) <= 20 and set(np.unique(small)) <= set(np.unique(labels))
    assert downsample(labels, 100) is labels


def _two_cells() -> np.ndarray:
    labels = np.zeros((20, 20), np.int32)
    labels[2:8, 2:8], labels[10:18, 10:18] = 1, 2
    return labels


def test_overlay_outlines_filled_and_highlight():
    rgb = np.full((20, 20, 3), 40, np.uint8)
    labels = _two_cells()
    outlines = overlay(rgb, labels, "outlines", 1.0)
    assert tuple(outlines[2, 4]) == OUTLINE_COLOUR  # on the inner boundary
    assert tuple(outlines[5, 5]) == (40, 40, 40) and tuple(outlines[0, 0]) == (40, 40, 40)
    half = overlay(rgb, labels, "outlines", 0.5)
    assert 40 < half[2, 4, 0] < OUTLINE_COLOUR[0]
    filled = overlay(rgb, labels, "filled", 0.5)
    assert tuple(filled[0, 0]) == (40, 40, 40) and tuple(filled[5, 5]) != (40, 40, 40)
    assert tuple(filled[5, 5]) != tuple(filled[14, 14])  # two cells, two colours
    lit = overlay(rgb, labels, "outlines", 0.0, highlight=2)
    assert tuple(lit[10, 12]) == HIGHLIGHT_COLOUR and tuple(lit[4, 4]) == (40, 40, 40)
    with pytest.raises(SegGalError, match="style"):
        overlay(rgb, labels, "dotted")


def test_error_map_classes_get_distinct_colours():
    rgb = np.zeros((4, 4, 3), np.uint8)
    errors = np.array([[0, 1, 2, 3]] * 4, np.uint8)
    out = error_rgb(rgb, errors, opacity=1.0)
    assert tuple(out[0, 0]) == (0, 0, 0)
    assert [tuple(out[0, v]) for v in (1, 2, 3)] == [c for _, c in ERROR_CLASSES.values()]
    assert len({c for _, c in ERROR_CLASSES.values()}) == 3


# ------------------------------------------------------------------------------------ result files


def test_downloads_hold_the_same_cells_in_every_format():
    from pycocotools import mask as mask_utils
    import roifile

    labels = _two_cells()
    files = downloads(labels, "my image.png")
    assert {f.file_name for f in files.values()} == {
        "my image_labels.tif", "my image_coco.json", "my image_cells.geojson", "my image_cells.csv",
        "my image_rois.zip"}
    geojson = json.loads(files["geojson"].data)
    assert sorted(f["properties"]["measurements"]["area"] for f in geojson["features"]) == sorted([36, 64])
    np.testing.assert_array_equal(seggal_io.read_labels(files["tiff"].data, "labels.tif"), labels)
    coco = json.loads(files["coco"].data)
    masks = [mask_utils.decode(a["segmentation"]) for a in coco["annotations"]]
    assert sorted(int(m.sum()) for m in masks) == sorted([36, 64])
    rows = files["csv"].data.decode().strip().splitlines()
    assert len(rows) == 3 and "size" in rows[0]
    with zipfile.ZipFile(io.BytesIO(files["roi"].data)) as archive:
        rois = [roifile.ImagejRoi.frombytes(archive.read(n)) for n in archive.namelist()]
    assert len(rois) == 2


def test_downloads_csv_is_the_given_cell_table():
    from seggal.morphology import cell_table

    labels = _two_cells()
    pixels = np.random.default_rng(3).random(labels.shape + (2,)).astype(np.float32)
    table = cell_table(labels, pixel_size_um=0.5, intensities=pixels, channel_names=["DAPI", "CD45"])
    header = downloads(labels, "a.tif", table=table)["csv"].data.decode().splitlines()[0].split(",")
    assert {"area_um2", "mean_DAPI", "integrated_CD45"} <= set(header)


# ------------------------------------------------------------------------------------ ground truth checks


def _real_label_images():
    from seggal.data.synthetic import synthetic_tissue
    from seggal.examples import stardist_images

    folder = stardist_images()
    _, nuclei, whole = synthetic_tissue((256, 256), tissue="Breast", seed=0)
    return {"dsb mask2d": tifffile.imread(folder / "mask2d.tif"),
            "dsb mask3d plane": tifffile.imread(folder / "mask3d.tif")[5],
            "synthetic nuclei": nuclei, "synthetic whole cells (touching)": whole}


def test_the_real_example_image_uploaded_as_ground_truth_is_flagged():
    from seggal.examples import stardist_images

    image = tifffile.imread(stardist_images() / "img2d.tif")  # the DSB image itself, 233 distinct values
    reason = intensity_warning(image, "img2d.tif")
    assert reason is not None and "img2d.tif looks like an intensity image" in reason
    assert "233 distinct values" in reason
    synthetic = load_example("synthetic-tissue").pixels  # float: as a 16-bit intensity image
    for c in range(synthetic.shape[2]):
        assert intensity_warning((synthetic[:, :, c] * 1000).astype(np.uint16)) is not None


@pytest.mark.parametrize("name", ["dsb mask2d", "dsb mask3d plane", "synthetic nuclei",
                                  "synthetic whole cells (touching)"])
def test_real_label_images_are_not_flagged(name):
    assert intensity_warning(_real_label_images()[name], name) is None


def test_tiny_touching_cells_in_a_grid_are_still_labels():
    labels = np.arange(1, 16 * 16 + 1).reshape(16, 16).repeat(3, 0).repeat(3, 1)  # 3 x 3 cells, all touching
    assert intensity_warning(labels) is None


# ------------------------------------------------------------------------------------ metadata and CLI advice


def test_ome_tiff_channel_names_and_pixel_size_are_read():
    arr = np.zeros((2, 32, 32), np.uint16)
    arr[0, 4:8, 4:8] = 9
    data = tiff_bytes(arr, ome=True, metadata={"axes": "CYX", "Channel": {"Name": ["DAPI", "E-cadherin"]},
                                              "PhysicalSizeX": 325, "PhysicalSizeXUnit": "nm",
                                              "PhysicalSizeY": 325, "PhysicalSizeYUnit": "nm"})
    meta = file_metadata(data, "field.ome.tif")
    assert meta.channel_names == ("DAPI", "E-cadherin")
    assert meta.pixel_size_um == pytest.approx(0.325)


def test_imagej_and_plain_tiff_resolution_give_the_pixel_size():
    arr = np.arange(1024, dtype=np.uint16).reshape(32, 32)
    imagej = tiff_bytes(arr, imagej=True, resolution=(1 / 0.65, 1 / 0.65), metadata={"unit": "um"})
    assert file_metadata(imagej, "ij.tif").pixel_size_um == pytest.approx(0.65)
    per_cm = tiff_bytes(arr, resolution=(1e4 / 0.2, 1e4 / 0.2), resolutionunit="CENTIMETER")
    assert file_metadata(per_cm, "cm.tif").pixel_size_um == pytest.approx(0.2)
    plain = file_metadata(tiff_bytes(arr), "plain.tif")
    assert plain.channel_names == () and plain.pixel_size_um is None
    assert file_metadata(b"not a tiff", "x.tif").pixel_size_um is None
    assert file_metadata(b"\x89PNG", "x.png").channel_names == ()


def test_too_large_files_name_the_cli_command(monkeypatch):
    assert cli_command("my scan.ome.tif", large=True) == (
        "python -m seggal segment 'my scan.ome.tif' --out 'my scan_labels.tif' --cluster local")
    monkeypatch.setattr(seggal_io, "MAX_PIXELS", 32 * 32)
    with pytest.raises(SegGalError) as err:
        load_plane(tiff_bytes(np.ones((64, 64), np.uint16)), "big.tif")
    assert "limit" in str(err.value) and "python -m seggal segment big.tif --out big_labels.tif --cluster local" \
        in str(err.value)


def test_preview_description_says_what_the_preview_shows():
    assert preview_description(0, None) == "nuclear (channel 1) in grey"
    assert preview_description(None, 0) == "membrane (channel 1) in grey"
    assert preview_description(0, 1) == "nuclear (channel 1) blue, membrane (channel 2) green"
    assert preview_description(1, 1) == "membrane (channel 2) in grey"
    grey = preview_rgb(np.random.default_rng(0).random((8, 8, 1)).astype(np.float32), 0, None)
    assert (grey[:, :, 0] == grey[:, :, 2]).all()  # the picture is grey indeed


# ------------------------------------------------------------------------------------ examples


@pytest.mark.parametrize("key", list(EXAMPLES))
def test_examples_load_with_ground_truth_and_a_source(key):
    example = load_example(key)
    assert example.pixels.dtype == np.float32 and example.pixels.ndim == 3
    assert example.ground_truth.shape == example.pixels.shape[:2] and example.ground_truth.max() > 10
    assert example.synthetic == ("synthetic" in example.source)
    assert "synthetic" in example.title if example.synthetic else "CC0" in example.source
    make_image(example.pixels, example.nuclear, example.membrane, "dual" if example.membrane is not None else "nuclear")


def test_unknown_example_is_refused():
    with pytest.raises(SegGalError, match="unknown example"):
        load_example("nope")
