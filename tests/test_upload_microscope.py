"""Microscope files uploaded to the Segment page (seggal.upload over seggal.formats / bioio): genuine CZI
files written by Zeiss's libCZI (tests/czi_files.py), decoded from bytes with their channel names and
pixel size, the caps checked from the header, damaged files refused clearly.

ND2 and LIF: no Python writer exists and no genuine sample file ships in the installed packages (searched
the virtualenv), so those two formats are tested up to their reader — the upload reaches bioio-nd2 /
bioio-lif, whose own refusal of a damaged file is the message — and not on real pixels. The scene cap
(:data:`seggal.io.MAX_PAGES`) is not exercised: bioio-czi lists one scene for the multi-scene files
pylibCZIrw writes (their XML has no scene entries), and no other genuine multi-scene file is at hand."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
from czi_files import czi_bytes

from seggal import io as seggal_io
from seggal.channel_names import suggest_channels
from seggal.errors import SegGalError
from seggal.upload import decode, file_metadata, limits, load_plane, n_planes


def two_channels(shape=(40, 50)) -> np.ndarray:
    """(2, H, W) uint16: an E-cadherin-like channel and a DAPI-like one, both varying."""
    rng = np.random.default_rng(0)
    return rng.integers(100, 4000, (2, *shape)).astype(np.uint16)


@pytest.fixture()
def private_tmp(tmp_path, monkeypatch):
    """Python's temporary folder redirected to an empty folder of this test, to see what is left there."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_a_czi_upload_decodes_with_its_channel_names_and_pixel_size(private_tmp):
    pixels = two_channels()
    data = czi_bytes(pixels, "CYX", ["E-cadherin", "DAPI"], pixel_um=0.325)
    raw = decode(data, "field.czi")
    assert raw.shape == (2, 40, 50) and np.array_equal(raw, pixels)
    plane, planes = load_plane(data, "field.czi")
    assert planes == 1 and plane.dtype == np.float32 and plane.shape == (40, 50, 2)
    assert np.array_equal(plane[:, :, 1], pixels[1])
    metadata = file_metadata(data, "field.czi")
    assert metadata.channel_names == ("E-cadherin", "DAPI") and metadata.pixel_size_um == pytest.approx(0.325)
    assert suggest_channels(metadata.channel_names) == (1, 0)
    assert not any(private_tmp.iterdir())  # the temporary copy is gone


def test_a_czi_z_stack_gives_planes_to_choose_from():
    stack = np.random.default_rng(1).integers(0, 1000, (3, 2, 24, 32)).astype(np.uint16)
    data = czi_bytes(stack, "ZCYX", ["DAPI", "PanCK"])
    plane, planes = load_plane(data, "stack.czi", plane=2)
    assert planes == 3 == n_planes(decode(data, "stack.czi"))
    assert np.array_equal(plane, np.moveaxis(stack[2], 0, -1).astype(np.float32))


def test_many_channels_keep_the_two_their_names_call_nuclear_and_membrane():
    pixels = np.random.default_rng(2).integers(0, 1000, (5, 24, 32)).astype(np.uint16)
    names = ["CD45", "Ki67", "DAPI", "PanCK", "CD8"]
    data = czi_bytes(pixels, "CYX", names)
    assert np.array_equal(decode(data, "panel.czi"), pixels[[2, 3]])
    assert file_metadata(data, "panel.czi").channel_names == ("DAPI", "PanCK")
    unnamed = czi_bytes(pixels, "CYX", ["a", "b", "c", "d", "e"])
    with pytest.raises(SegGalError, match=r"unnamed.czi: 5 channels \(a, b, c, d, e\) .*--nuclear-channel NAME --membrane-channel NAME"):
        decode(unnamed, "unnamed.czi")


def test_caps_are_checked_from_the_header_before_decoding(monkeypatch, private_tmp):
    data = czi_bytes(two_channels((64, 64)), "CYX", ["DAPI", "E-cadherin"])
    monkeypatch.setattr(seggal_io, "MAX_PIXELS", 32 * 32)
    with pytest.raises(SegGalError) as err:
        load_plane(data, "big.czi")
    assert "4,096 pixels per plane is more than the limit of 1,024" in str(err.value)
    assert "python -m seggal segment big.czi --out big_labels.tif --cluster local" in str(err.value)
    monkeypatch.setattr(seggal_io, "MAX_PIXELS", 8192 * 8192)
    monkeypatch.setattr(seggal_io, "MAX_BYTES", 1000)
    with pytest.raises(SegGalError, match="big.czi: .* more than the limit of 1,000 .* nothing was decoded"):
        decode(data, "big.czi")
    assert f"{seggal_io.MAX_PAGES:,} TIFF pages or scenes" in limits(200)
    assert not any(private_tmp.iterdir())  # removed after a refusal too


def test_a_time_series_is_refused():
    series = np.random.default_rng(3).integers(0, 1000, (2, 1, 16, 16)).astype(np.uint16)
    with pytest.raises(SegGalError, match="movie.czi: a time series of 2 time points"):
        decode(czi_bytes(series, "TCYX"), "movie.czi")


@pytest.mark.parametrize("name, data, reader", [
    ("cut.czi", czi_bytes(two_channels(), "CYX")[:3000], "bioio_czi"),
    ("noise.czi", b"ZISRAWFILE" + bytes(200), "bioio_czi"),
    # ND2 / LIF: no genuine file to cut (see the module docstring); a damaged one reaches their readers
    ("scan.nd2", b"\xda\xce\xbe\x0a" + bytes(200), "bioio_nd2 (ValueError: Corrupt ND2 file header"),  # nd2's magic
    ("noise.nd2", bytes(200), "bioio_nd2"),
    ("tiles.lif", b"\x70\x00\x00\x00" + bytes(200), "bioio_lif"),
    ("empty.nd2", b"", "the file is empty"),
])
def test_damaged_microscope_files_get_their_readers_reason_naming_the_file(name, data, reader, private_tmp):
    with pytest.raises(SegGalError) as err:
        decode(data, name)
    message = str(err.value)
    assert message.startswith(f"{name}: ") and reader in message
    assert str(private_tmp) not in message  # the temporary copy's path is not shown
    assert file_metadata(data, name).channel_names == ()  # metadata of a damaged file: none, no crash
    assert not any(private_tmp.iterdir())
