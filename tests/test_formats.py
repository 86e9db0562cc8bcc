"""OME-Zarr, tifffile-as-zarr and bioio readers; label writers; channel-name suggestions; µm² per cell."""

import numpy as np
import pytest
import tifffile
import zarr

from seggal.channel_names import channel_index, suggest_channels
from seggal.distributed import Recipe, cli_channels, run_cli
from seggal.errors import SegGalError
from seggal.formats import open_image
from seggal.morphology import cell_table


def nuclei(shape, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.zeros(shape, np.int32)
    points = [(y, x) for y in range(10, shape[0] - 30, 30) for x in range(10, shape[1] - 30, 30)]
    for i, (y, x) in enumerate(points, start=1):  # separate 8 x 8 nuclei on a jittered grid
        dy, dx = rng.integers(0, 12, 2)
        truth[y + dy : y + dy + 8, x + dx : x + dx + 8] = i
    return truth


def write_ome_zarr(path, pixels, names, pixel_um, levels=3):
    from ome_zarr.writer import write_image

    group = zarr.open_group(str(path), mode="w")
    write_image(pixels, group, scale_factors=[2] * (levels - 1), axes="cyx", scale={"c": 1.0, "y": pixel_um, "x": pixel_um},
                axes_units={"y": "micrometer", "x": "micrometer"},
                omero={"channels": [{"label": n, "color": "FFFFFF", "window": {"start": 0, "end": 1000, "min": 0, "max": 65535}} for n in names]})


def test_ome_zarr_round_trip_keeps_pyramid_pixel_size_and_names(tmp_path, capsys):
    truth = nuclei((300, 340))
    pixels = np.stack([np.full(truth.shape, 7, np.uint16), (truth > 0).astype(np.uint16) * 900 + 10])
    write_ome_zarr(tmp_path / "in.ome.zarr", pixels, ["CD45", "Hoechst 33342"], 0.65)
    image = open_image(tmp_path / "in.ome.zarr")
    assert image.shape == (300, 340) and image.channel_names == ("CD45", "Hoechst 33342")
    assert image.pixel_size_um == pytest.approx(0.65) and len(image.scales) == 3
    assert np.array_equal(image.read(5, 9, 7, 12, [1])[..., 0], pixels[1, 5:9, 7:12])  # lazy box read
    assert cli_channels(tmp_path / "in.ome.zarr", "auto", "auto") == (1, 0)  # names → nuclear, membrane
    assert "nuclear 'Hoechst 33342' (1)" in capsys.readouterr().out

    out = tmp_path / "labels.ome.zarr"
    assert run_cli(tmp_path / "in.ome.zarr", out, Recipe("baseline", target="nuclei"), image_channels(1)) == 0
    labels = open_image(out)
    assert labels.scales == image.scales and labels.pixel_size_um == pytest.approx(0.65)  # pyramid, metadata kept
    level0 = labels.read(0, 300, 0, 340, [0])[..., 0].astype(np.int32)
    assert level0.max() == len(np.unique(truth)) - 1
    group = zarr.open_group(str(out), mode="r")
    assert group.attrs["seggal"]["source_channels"] == ["CD45", "Hoechst 33342"]
    table = cell_table(level0, pixel_size_um=labels.pixel_size_um)
    assert np.allclose(table["area_um2"], table["size"] * 0.65**2) and (table["size"] > 30).all()


def image_channels(nuclear):
    from seggal.image import ChannelSpec

    return ChannelSpec(nuclear, None)


def test_large_tiff_through_the_zarr_store_and_a_bigtiff_out(tmp_path):
    truth = nuclei((700, 600), seed=1)
    tifffile.imwrite(tmp_path / "big.tif", (truth > 0).astype(np.uint16) * 500, bigtiff=True, tile=(128, 128))
    image = open_image(tmp_path / "big.tif")
    assert image.kind == "tiff" and image.shape == (700, 600) and image.axes == "YX"
    out = tmp_path / "big_labels.tif"
    assert run_cli(tmp_path / "big.tif", out, Recipe("baseline", target="nuclei"), image_channels(0), block=256) == 0
    with tifffile.TiffFile(out) as tif:
        assert tif.is_bigtiff and tif.pages[0].is_tiled
        labels = tif.asarray()
    assert labels.max() == len(np.unique(truth)) - 1


def test_ome_tiff_metadata_through_bioio(tmp_path):
    pixels = np.zeros((2, 64, 80), np.uint16)
    tifffile.imwrite(tmp_path / "a.ome.tif", pixels, ome=True,
                     metadata={"axes": "CYX", "Channel": {"Name": ["E-cadherin", "DAPI"]}, "PhysicalSizeX": 0.3,
                               "PhysicalSizeY": 0.3})
    image = open_image(tmp_path / "a.ome.tif")
    assert image.channel_names == ("E-cadherin", "DAPI") and image.pixel_size_um == pytest.approx(0.3)
    assert suggest_channels(image.channel_names) == (1, 0)


def test_channel_suggestions_and_names():
    assert suggest_channels(["Ir191", "PanCK", "CD3"]) == (0, 1)
    assert suggest_channels(["Na/K-ATPase", "something"]) == (None, 0)
    assert suggest_channels(["GFP", "RFP"]) == (None, None)
    assert channel_index("dapi", ["ECAD", "DAPI"], "nuclear") == 1
    with pytest.raises(SegGalError, match="no channel of that name; channels: ECAD, DAPI"):
        channel_index("Hoechst", ["ECAD", "DAPI"], "nuclear")


def test_stacks_and_bad_files_are_clear_errors(tmp_path):
    tifffile.imwrite(tmp_path / "z.tif", np.zeros((5, 2, 32, 32), np.uint16), metadata={"axes": "ZCYX"})
    with pytest.raises(SegGalError, match="Z=5; SegGal segments one 2-D plane"):
        open_image(tmp_path / "z.tif")
    (tmp_path / "bad.czi").write_bytes(b"nope")
    with pytest.raises(SegGalError, match="bad.czi: cannot read"):
        open_image(tmp_path / "bad.czi")
