"""The benchmark sample: the dataset's uint8 pixels plus its normalisation, normalising back exactly."""

import numpy as np

from edgecomp.run.artifacts import write_sample


def test_sample_holds_uint8_pixels_that_normalise_back_bit_for_bit(fmnist_small, tmp_path):
    path = write_sample(fmnist_small, tmp_path / "sample.npz", limit=300)
    with np.load(path, allow_pickle=False) as sample:
        x, scale, offset = sample["x"], sample["scale"], sample["offset"]
        assert x.dtype == np.uint8 and x.shape == (300, 28, 28, 1)
        assert sample["y"].tolist() == fmnist_small.labels("test", 300).tolist()
    normalised = (x.astype(np.float64) * scale + offset).astype(np.float32)  # the runner's formula
    assert np.array_equal(normalised, fmnist_small.images("test", 300))
    assert path.stat().st_size < fmnist_small.images("test", 300).nbytes / 3


def test_per_channel_normalisation_travels_with_the_pixels(tmp_path):
    from edgecomp.data.dataset import load_dataset

    rng = np.random.default_rng(0)
    npz = tmp_path / "rgb.npz"
    np.savez(npz, x_train=rng.integers(0, 256, (40, 8, 8, 3)).astype(np.uint8), y_train=np.arange(40) % 2,
             x_test=rng.integers(0, 256, (10, 8, 8, 3)).astype(np.uint8), y_test=np.arange(10) % 2)
    data = load_dataset(str(npz), normalization="imagenet", seed=0)
    with np.load(write_sample(data, tmp_path / "sample.npz", limit=None)) as sample:
        assert sample["scale"].shape == (3,) and sample["offset"].shape == (3,)
        normalised = (sample["x"].astype(np.float64) * sample["scale"] + sample["offset"]).astype(np.float32)
    assert np.allclose(normalised, data.images("test"), atol=1e-6)
