"""Keras' dataset loaders fail three ways, each told apart with its fix: no network (this machine is
offline, so that failure is the real one), a cached file Keras finds damaged by its checksum and
deletes, and a cached file it reads without a checksum. Anything else keeps its own type and traceback."""

import gzip
import shutil
from pathlib import Path

import pytest

from edgecomp.core.errors import DatasetError
from edgecomp.data.dataset import load_dataset
from edgecomp.data.keras_loader import load_with_keras

FMNIST = "/usr/share/datasets/fashion-mnist"


@pytest.fixture()
def keras_cache(tmp_path, monkeypatch):
    """An empty ~/.keras/datasets of the test's own (tf-keras' get_file reads HOME, never KERAS_HOME)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("EDGECOMP_DATA_DIR", raising=False)
    folder = tmp_path / ".keras" / "datasets"
    folder.mkdir(parents=True)
    return folder


def test_offline_download_says_no_network_and_names_the_remedies(keras_cache):
    with pytest.raises(DatasetError, match=r"not on this machine and Keras could not download it: no network"
                                           r".*URL fetch failure.*\.npz") as raised:
        load_dataset("cifar10")
    assert "damaged" not in str(raised.value)


def test_a_cached_file_failing_its_checksum_is_named_with_what_keras_did(keras_cache):
    """A truncated mnist.npz: Keras checks its SHA-256, deletes it, then cannot download it offline."""
    damaged = keras_cache / "mnist.npz"
    damaged.write_bytes(b"PK\x03\x04 half of a download")
    with pytest.raises(DatasetError, match="did not match its checksum") as raised:
        load_dataset("mnist")
    message = str(raised.value)
    assert str(damaged) in message and "Keras deleted it" in message and "no network" in message
    assert not damaged.exists()


def test_a_damaged_cached_file_keras_reads_unchecked_is_named_to_delete(keras_cache):
    """Keras' fashion_mnist loader reads its four cached .gz files without a checksum: a truncated one
    fails inside gzip, and the message must name that file and say to delete it, not blame the network."""
    folder = keras_cache / "fashion-mnist"
    folder.mkdir()
    for name in ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"]:
        shutil.copy(f"{FMNIST}/{name}", folder / name)
    labels = folder / "train-labels-idx1-ubyte.gz"
    full = Path(f"{FMNIST}/train-labels-idx1-ubyte.gz").read_bytes()
    labels.write_bytes(full[: len(full) // 2])  # a download cut off halfway
    with pytest.raises(DatasetError, match="damaged or partly downloaded") as raised:
        load_with_keras("fashion_mnist", [str(i) for i in range(10)], "fashion-mnist")
    message = str(raised.value)
    assert f"the cached file {labels}" in message and f"Delete {labels}" in message
    assert "network" not in message
    with pytest.raises(EOFError), gzip.open(labels) as truncated:  # the file really is the damaged one
        truncated.read()


def test_any_other_failure_keeps_its_own_type_and_traceback(keras_cache):
    """A folder where Keras expects mnist.npz is neither a network failure nor a damaged download."""
    (keras_cache / "mnist.npz").mkdir()
    with pytest.raises(IsADirectoryError):
        load_dataset("mnist")
