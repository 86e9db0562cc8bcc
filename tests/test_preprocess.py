"""The paper's preprocessing: windows, percentile normalisation, CLAHE."""

import numpy as np
import pytest

from seggal.errors import SegGalError
from seggal.preprocess import (DEFAULT, PAPER, Percentiles, Preprocessing, clahe, percentile_normalize,
                               sliding_windows)


def test_windows_of_a_512_image_follow_the_paper():
    starts = sorted({y for y, _ in sliding_windows(512, 512)})
    assert starts == [0, 192, 256]
    assert sliding_windows(512, 512)[:3] == [(0, 0), (0, 192), (0, 256)]  # left to right, then down


@pytest.mark.parametrize("height,width", [(256, 256), (257, 300), (520, 704), (1000, 449), (4096, 4096)])
def test_windows_cover_the_image_and_stay_inside(height, width):
    windows = sliding_windows(height, width)
    covered = np.zeros((height, width), bool)
    for y, x in windows:
        assert 0 <= y <= height - 256 and 0 <= x <= width - 256
        covered[y : y + 256, x : x + 256] = True
    assert covered.all()
    ys, xs = sorted({y for y, _ in windows}), sorted({x for _, x in windows})
    assert ys[-1] == height - 256 and xs[-1] == width - 256  # flush with the edge
    assert all(0 < b - a <= 192 for a, b in zip(ys, ys[1:]))


def test_small_images_get_one_window_along_the_short_axis():
    assert sliding_windows(100, 300) == [(0, 0), (0, 44)]


def test_bad_window_settings():
    with pytest.raises(SegGalError):
        sliding_windows(100, 100, size=64, step=128)


def test_percentile_normalisation_formula_and_outliers():
    rng = np.random.default_rng(0)
    channel = rng.normal(100, 10, (64, 64)).astype(np.float32)
    channel[0, 0] = 1e6  # an exceptionally bright isolated pixel
    image = np.stack([channel, channel * 1000 + 5], axis=-1)
    out = percentile_normalize(image)
    lo, hi = np.percentile(channel, [0.1, 99.9])
    assert out.dtype == np.float32 and out.shape == image.shape
    assert np.allclose(out[1:, :, 0], np.clip((channel[1:] - lo) / (hi - lo), 0, 1), atol=1e-5)
    assert out[0, 0, 0] == 1.0 and out.min() == 0.0
    assert np.allclose(out[:, :, 0], out[:, :, 1], atol=1e-4)  # per channel: scale and offset drop out
    assert not percentile_normalize(np.full((8, 8), 7.0)).any()  # a flat channel becomes zeros


def test_clahe_raises_local_contrast_and_keeps_range():
    yy, xx = np.mgrid[0:128, 0:128]
    dim = 0.4 + 0.05 * ((yy // 8 + xx // 8) % 2)  # faint checkerboard
    out = clahe(np.stack([dim, dim], -1))
    assert out.dtype == np.float32 and out.shape == (128, 128, 2)
    assert 0 <= out.min() and out.max() <= 1
    assert out[:, :, 0].std() > 3 * dim.std()
    with pytest.raises(SegGalError, match="percentile_normalize"):
        clahe(dim * 10)


def test_the_preprocessing_record_round_trips_and_applies_what_it_says():
    assert DEFAULT == Preprocessing(0.1, 99.9, False, 256, 192) and PAPER == Preprocessing(clahe=True)
    assert Preprocessing.from_dict(PAPER.to_dict()) == PAPER and Preprocessing.from_dict(None) == DEFAULT
    # the record written before windows and CLAHE were recorded reads as today's default
    assert Preprocessing.from_dict({"normalisation": "percentile", "low": 0.1, "high": 99.9, "per_channel": True}) == DEFAULT
    rng = np.random.default_rng(1)
    pixels = rng.gamma(2, 50, (64, 64, 2)).astype(np.float32)
    np.testing.assert_array_equal(DEFAULT.apply(pixels), percentile_normalize(pixels))
    np.testing.assert_array_equal(PAPER.apply(pixels), clahe(percentile_normalize(pixels)))
    np.testing.assert_array_equal(Preprocessing(low=2, high=98).apply(pixels), percentile_normalize(pixels, 2, 98))
    for bad, words in (({"low": "0.1"}, "low must be a number"), ({"low": 50, "high": 10}, "low < high"),
                       ({"clahe": "yes"}, "clahe must be true or false"), ({"window": 0}, "window must be"),
                       ({"window": 64, "step": 128}, "larger than the window"), ({"gamma": 2}, "unknown field"),
                       ({"normalisation": "zscore"}, "only per-channel percentile")):
        with pytest.raises(SegGalError, match=words):
            Preprocessing.from_dict(bad)


FULL = Preprocessing(clahe=True, method_normalisation=Percentiles(0.0, 99.8, clip=False), levels=255,
                     channel_order=("membrane", "nuclear", "zeros"), diameter=23.0, source="a test script")


def test_a_record_with_the_test_script_steps_round_trips_through_json():
    import json

    record = json.loads(json.dumps(FULL.to_dict()))
    assert record["method_normalisation"] == {"low": 0.0, "high": 99.8, "clip": False}
    assert record["channel_order"] == ["membrane", "nuclear", "zeros"] and record["levels"] == 255
    assert Preprocessing.from_dict(record) == FULL
    # records without the steps are written as before (no new keys), so old config.json files read the same
    assert set(PAPER.to_dict()) == {"normalisation", "per_channel", "low", "high", "clahe", "window", "step"}


@pytest.mark.parametrize("steps,words", [
    ({"method_normalisation": {"low": 50, "high": 10}}, "low < high"),
    ({"method_normalisation": {"low": 0}}, "method_normalisation must be"),
    ({"method_normalisation": {"low": 0, "high": 99.8, "clip": "no"}}, "clip must be true or false"),
    ({"method_normalisation": {"low": 0, "high": 99.8, "gamma": 1}}, "method_normalisation must be"),
    ({"method_normalisation": [0, 99.8]}, "method_normalisation must be"),
    ({"levels": 0}, "levels must be"), ({"levels": 2.5}, "levels must be"), ({"levels": True}, "levels must be"),
    ({"channel_order": ["red"]}, "channel_order must list"), ({"channel_order": "nuclear"}, "channel_order must list"),
    ({"channel_order": ["zeros", "zeros"]}, "not only zeros"), ({"channel_order": ["nuclear"] * 4}, "1 to 3"),
    ({"diameter": -1}, "diameter must be positive"), ({"diameter": "23"}, "diameter must be a number"),
    ({"source": 5}, "source must be text"),
])
def test_bad_test_script_steps_are_refused(steps, words):
    with pytest.raises(SegGalError, match=words):
        Preprocessing.from_dict({**PAPER.to_dict(), **steps})


def test_the_second_normalisation_is_csbdeeps_and_levels_are_the_integer_files():
    from csbdeep.utils import normalize

    rng = np.random.default_rng(2)
    pixels = rng.gamma(2, 50, (64, 64, 2)).astype(np.float32)
    window = PAPER.apply(pixels)
    second = Preprocessing(clahe=True, method_normalisation=Percentiles(0.0, 99.8)).apply(pixels)
    expected = normalize(window, 0, 99.8, axis=(0, 1))  # csbdeep's own, unclipped
    assert second.max() > 1  # not clipped: the top 0.2 % stay above 1
    np.testing.assert_allclose(second, expected, rtol=1e-6, atol=1e-7)
    clipped = Preprocessing(clahe=True, method_normalisation=Percentiles(0.0, 99.8, clip=True)).apply(pixels)
    np.testing.assert_allclose(clipped, np.clip(expected, 0, 1), rtol=1e-6, atol=1e-7)
    eight_bit = Preprocessing(clahe=True, levels=255).apply(pixels) * 255
    np.testing.assert_array_equal(eight_bit, (window * 255).astype(np.uint8))  # the scripts' astype truncation
