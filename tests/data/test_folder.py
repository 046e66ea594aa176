"""Image folders: real Fashion-MNIST images saved as RGB JPEG/PNG files of mixed sizes."""

import numpy as np
import pytest

from edgecomp.core.errors import DatasetError
from edgecomp.data.dataset import load_dataset


def test_mixed_size_rgb_folder_is_resized_held_as_uint8_and_the_corrupt_file_listed(fmnist_folder, capsys):
    folder, broken = fmnist_folder
    data = load_dataset(str(folder), size=(96, 96))
    assert data.input_shape == (96, 96, 3)
    assert data.pixels("train").dtype == np.uint8
    total = data.count("train") + data.count("val") + data.count("test")
    assert total == 1250  # every readable image, the corrupt one left out
    assert data.memory_bytes() == total * 96 * 96 * 3  # uint8: 27.6 kB per image, not 110.6 kB float32
    assert [path for path, _ in data.skipped] == [str(broken)]
    assert data.describe()["skipped_files"][0]["path"] == str(broken)
    assert f"skipped 1 image(s) that could not be decoded: {broken}" in capsys.readouterr().err
    # Real clothes survive the round trip: grey images converted to RGB keep equal channels
    # (JPEG's chroma may shift them by a few levels) and a Fashion-MNIST-like mean brightness.
    pixels = data.pixels("test").astype(int)
    assert np.abs(pixels[..., 0] - pixels[..., 1]).mean() < 3
    assert 50 < pixels.mean() < 100


def test_without_a_size_the_most_common_size_is_used_and_said(tmp_path, fmnist_small):
    from PIL import Image

    for label, sizes in ((0, [(20, 30), (20, 30), (40, 10)]), (1, [(20, 30)])):
        (tmp_path / f"c{label}").mkdir()
        for i, (w, h) in enumerate(sizes):
            Image.fromarray(fmnist_small.pixels("test")[i, ..., 0]).resize((w, h)).save(tmp_path / f"c{label}" / f"{i}.png")
    data = load_dataset(str(tmp_path), val_fraction=0.3)
    assert data.input_shape == (30, 20, 1)  # (H, W) of the most common file; grayscale kept as 1 channel
    assert any("most common one, 30x20" in note for note in data.notes)


def test_channels_setting_converts_grayscale_to_rgb_and_back(fmnist_folder):
    folder, _ = fmnist_folder
    gray = load_dataset(str(folder), size=(32, 32), channels=1, train_limit=50)
    assert gray.input_shape == (32, 32, 1)
    rgb = load_dataset("fashion_mnist", train_limit=20, test_limit=10, channels=3, size=(40, 40))
    assert rgb.input_shape == (40, 40, 3)
    np.testing.assert_array_equal(rgb.pixels("test")[..., 0], rgb.pixels("test")[..., 2])


def test_a_folder_where_nothing_decodes_is_a_clear_error(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "a.jpg").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="none of the 1 images .* could be decoded"):
        load_dataset(str(tmp_path))


def small_folder(tmp_path):
    """60 real Fashion-MNIST images as PNG files, in three class sub-folders."""
    from PIL import Image

    from edgecomp.data.dataset import fashion_mnist

    raw = fashion_mnist()
    for name, label in (("bag", 8), ("sneaker", 7), ("trouser", 1)):
        (tmp_path / name).mkdir()
        for index in np.flatnonzero(raw.y_test == label)[:20]:
            Image.fromarray(raw.x_test[index, ..., 0]).save(tmp_path / name / f"{index}.png")
    return tmp_path


def test_dataset_classes_sets_a_folders_class_order_and_keeps_the_split(tmp_path):
    folder = small_folder(tmp_path)
    alphabetical = load_dataset(str(folder), size=(28, 28), channels=1)
    ordered = load_dataset(str(folder), size=(28, 28), channels=1, classes=["sneaker", "trouser", "bag"])
    assert alphabetical.class_names == ["bag", "sneaker", "trouser"]
    assert ordered.class_names == ["sneaker", "trouser", "bag"]
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(ordered.pixels(split), alphabetical.pixels(split))  # the same images
        renamed = np.array(ordered.class_names)[ordered.labels(split)]
        np.testing.assert_array_equal(renamed, np.array(alphabetical.class_names)[alphabetical.labels(split)])
    assert (ordered.labels("test") != alphabetical.labels("test")).any()


@pytest.mark.parametrize("classes, words", [
    (["sneaker", "bag"], "not listed: trouser"),
    (["sneaker", "trouser", "bag", "coat"], "no such sub-folder: coat"),
    (["sneaker", "trouser", "bag", "bag"], "listed twice: bag"),
])
def test_dataset_classes_must_name_every_sub_folder_once(tmp_path, classes, words):
    with pytest.raises(DatasetError, match=words):
        load_dataset(str(small_folder(tmp_path)), size=(28, 28), channels=1, classes=classes)


def test_dataset_classes_is_refused_for_a_dataset_with_a_fixed_order():
    with pytest.raises(DatasetError, match="not a folder"):
        load_dataset("fashion_mnist", classes=["a", "b"])
