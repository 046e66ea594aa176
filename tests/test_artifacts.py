"""The benchmark sample: uint8 pixels plus normalisation, exact, and float when pixels are not whole."""

import numpy as np

from edgecomp.artifacts import uint8_pixels, write_sample


def test_sample_holds_uint8_pixels_that_normalise_back_bit_for_bit(fmnist_small, tmp_path):
    path = write_sample(fmnist_small, tmp_path / "sample.npz", limit=300)
    with np.load(path, allow_pickle=False) as sample:
        x, scale, offset = sample["x"], sample["scale"], sample["offset"]
        assert x.dtype == np.uint8 and x.shape == (300, 28, 28, 1)
        assert sample["y"].tolist() == fmnist_small.y_test[:300].tolist()
    normalised = (x.astype(np.float64) * scale + offset).astype(np.float32)
    assert np.array_equal(normalised, fmnist_small.x_test[:300])
    assert path.stat().st_size < fmnist_small.x_test[:300].nbytes / 3


def test_per_channel_normalisation_is_recovered():
    pixels = np.random.default_rng(0).integers(0, 256, (5, 4, 4, 3)).astype(np.uint8)
    normalization = {"scale": [1 / 58.4, 1 / 57.1, 1 / 57.4], "offset": [-2.1, -2.0, -1.8]}
    images = (pixels.astype(np.float64) * np.array(normalization["scale"]) + normalization["offset"]).astype(np.float32)
    assert np.array_equal(uint8_pixels(images, normalization), pixels)


def test_images_that_are_not_whole_pixels_stay_float():
    images = np.full((2, 4, 4, 1), 0.3337, np.float32)
    assert uint8_pixels(images, {"scale": 1 / 255.0, "offset": 0.0}) is None
