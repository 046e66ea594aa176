"""Datasets on real Fashion-MNIST files (Debian's dataset-fashion-mnist) and files made from them."""

import gzip
import shutil

import numpy as np
import pytest

from edgecomp.core.errors import DatasetError, UsageError
from edgecomp.data.dataset import load_dataset
from edgecomp.data.idx import read_idx

FMNIST = "/usr/share/datasets/fashion-mnist"


def test_fashion_mnist_loads_real_images_as_uint8_normalised_on_access(fmnist_small):
    assert fmnist_small.input_shape == (28, 28, 1)
    assert fmnist_small.num_classes == 10
    assert fmnist_small.count("train") == 1800 and fmnist_small.count("val") == 200
    assert fmnist_small.count("test") == 500
    assert fmnist_small.pixels("train").dtype == np.uint8  # held as uint8: a quarter of float32
    images = fmnist_small.images("train")
    assert images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    # Real photographs of clothes, not noise: the mean pixel of Fashion-MNIST is about 0.286.
    assert 0.25 < images.mean() < 0.32
    assert set(np.unique(fmnist_small.labels("train"))) == set(range(10))


def test_full_test_split_has_10000_images():
    labels = read_idx(__import__("pathlib").Path(FMNIST) / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,)
    assert np.bincount(labels).tolist() == [1000] * 10


def test_data_dir_env_is_searched_first_and_truncated_file_is_clear(tmp_path, monkeypatch):
    folder = tmp_path / "fashion-mnist"
    shutil.copytree(FMNIST, folder)
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "rb") as handle:
        header_and_some = handle.read(1000)
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(header_and_some)
    monkeypatch.setenv("EDGECOMP_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="truncated"):
        load_dataset("fashion_mnist")


def test_not_an_idx_file(tmp_path):
    bad = tmp_path / "x-idx3-ubyte"
    bad.write_bytes(b"hello world")
    with pytest.raises(DatasetError, match="not an IDX file"):
        read_idx(bad)


def test_unknown_dataset_name_suggests_the_closest():
    with pytest.raises(UsageError, match="Did you mean 'fashion_mnist'"):
        load_dataset("fashion_mnsit")


def test_offline_keras_download_names_the_remedies(tmp_path, monkeypatch):
    """cifar10 is not on this machine; Keras' loader must fail offline with a message naming the fix."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / ".keras"))
    with pytest.raises(DatasetError, match=r"Keras could not download it.*\.npz"):
        load_dataset("cifar10")


def test_npz_dataset(tmp_path, fmnist_small):
    path = tmp_path / "data.npz"
    images = fmnist_small.pixels("test")[..., 0]  # (N, H, W) uint8
    np.savez(path, x_train=images[:300], y_train=fmnist_small.labels("test", 300),
             x_test=images[300:], y_test=fmnist_small.labels("test")[300:])
    data = load_dataset(str(path))
    assert data.input_shape == (28, 28, 1)
    assert data.count("train") + data.count("val") == 300 and data.count("test") == 200


def test_npz_missing_arrays_and_missing_file(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, x_train=np.zeros((2, 4, 4)))
    with pytest.raises(DatasetError, match="lacks x_test, y_test, y_train"):
        load_dataset(str(path))
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(str(tmp_path / "nope.npz"))


def test_image_folder(tmp_path, fmnist_small):
    from PIL import Image

    for label in (0, 1):
        (tmp_path / f"class_{label}").mkdir()
        picks = np.flatnonzero(fmnist_small.labels("test") == label)[:10]
        for i in picks:
            Image.fromarray(fmnist_small.pixels("test")[i, ..., 0]).save(
                tmp_path / f"class_{label}" / f"{i}.png")
    data = load_dataset(str(tmp_path))
    assert data.class_names == ["class_0", "class_1"]
    assert data.input_shape == (28, 28, 1)
    assert data.count("test") == 4


def test_empty_image_folder_is_a_clear_error(tmp_path):
    (tmp_path / "cats").mkdir()
    with pytest.raises(DatasetError, match="holds no images"):
        load_dataset(str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no class sub-folders"):
        load_dataset(str(empty))


@pytest.mark.parametrize("count", [1, 2, 7, 300])
def test_in_place_shuffle_equals_fancy_indexing(count):
    from edgecomp.data.dataset import shuffled

    rng = np.random.default_rng(count)
    images = rng.integers(0, 256, (count, 4, 4, 1), dtype=np.uint8)
    labels, order = np.arange(count), rng.permutation(count)
    expected = images[order].copy()
    got_images, got_labels = shuffled(images, labels, order)
    assert got_images is images  # no second copy of the pixels
    np.testing.assert_array_equal(got_images, expected)
    np.testing.assert_array_equal(got_labels, labels[order])
