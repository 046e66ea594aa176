"""What a user brings, shared by run.py and small_data/run.py: the image folder, made from real
Fashion-MNIST images, and the user's own training of their model on it.

Real Fashion-MNIST training images (Debian's dataset-fashion-mnist through edgecomp.data), `per_class`
of each class, each resized to a random 96-128 px square RGB image and written as PNG or JPEG, one
sub-folder per class, plus one corrupt file (a truncated JPEG) as users' folders have.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SIDES = (96, 128)


def write_folder(folder: Path, per_class: int, seed: int = 0) -> None:
    """`per_class` images per class at random 96-128 px sizes, RGB, half PNG and half JPEG, one corrupt file."""
    from PIL import Image

    from edgecomp.data.dataset import FASHION_MNIST_CLASSES, fashion_mnist

    raw = fashion_mnist()
    rng = np.random.default_rng(seed)
    for label, name in enumerate(FASHION_MNIST_CLASSES):
        sub = folder / name.replace("/", "-")
        sub.mkdir(parents=True, exist_ok=True)
        for index in np.flatnonzero(raw.y_train == label)[:per_class]:
            side = int(rng.integers(IMAGE_SIDES[0], IMAGE_SIDES[1] + 1))
            image = Image.fromarray(raw.x_train[index][..., 0]).resize((side, side), Image.BILINEAR).convert("RGB")
            if index % 2:
                image.save(sub / f"img_{index:05d}.png")
            else:
                image.save(sub / f"img_{index:05d}.jpg", quality=92)
    good = next((folder / "Bag").glob("*.jpg")).read_bytes()
    (folder / "Bag" / "IMG_corrupt.jpg").write_bytes(good[: len(good) // 3])  # a truncated download


def lower_bn_momentum(model):
    """keras.applications' BatchNorm momentum 0.999 keeps validation near chance for the first epochs on
    a few thousand images (hundreds of steps); users lower it to 0.9."""
    import keras

    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    return model


def train_on_folder(model, folder: Path, size: int, path: Path, max_epochs: int, seed: int, patience: int,
                    scale=lambda x: x) -> dict:
    """The user's own training of `model`, in Keras 3, until validation accuracy stops improving: Adam 2e-3,
    flip + shift augmentation, ReduceLROnPlateau, EarlyStopping (restore_best_weights) on a tenth of the
    training split held out. The folder is read with edgecomp's loader and split as edgecomp splits it, so
    the test images are never seen. `scale` maps 0..255 pixels to the model's input range. The trained
    model is saved to `path`.

    Returns:
        What the training did: epochs, seconds of fitting, best validation and test accuracy, image counts.
    """
    import time

    import keras
    import tensorflow as tf

    from edgecomp.data.folder import load_image_folder

    keras.utils.set_random_seed(seed)
    raw = load_image_folder(folder, size=(size, size), channels=3, seed=0)
    x, y = scale(raw.x_train.astype("float32")), raw.y_train
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = len(y) // 10
    val, train = order[:n_val], order[n_val:]
    augment = keras.Sequential([keras.layers.RandomFlip("horizontal"), keras.layers.RandomTranslation(0.1, 0.1)])
    batches = (tf.data.Dataset.from_tensor_slices((x[train], y[train])).shuffle(len(train), seed=seed).batch(64)
               .map(lambda a, b: (augment(a, training=True), b)).prefetch(2))
    model.compile(optimizer=keras.optimizers.Adam(2e-3), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    started = time.perf_counter()
    history = model.fit(batches, validation_data=(x[val], y[val]), epochs=max_epochs, verbose=2, callbacks=[
        keras.callbacks.ReduceLROnPlateau("val_accuracy", factor=0.3, patience=4, min_lr=1e-5),
        keras.callbacks.EarlyStopping("val_accuracy", patience=patience, restore_best_weights=True,
                                      start_from_epoch=6)])
    seconds = time.perf_counter() - started
    model.save(path)
    logits = model.predict(scale(raw.x_test.astype("float32")), batch_size=128, verbose=0)
    return {"epochs_run": len(history.history["loss"]), "max_epochs": max_epochs, "train_seconds": round(seconds),
            "best_val_accuracy": float(max(history.history["val_accuracy"])),
            "keras_test_accuracy": float((logits.argmax(1) == raw.y_test).mean()),
            "train_images": int(len(train)), "val_images": int(n_val), "test_images": int(len(raw.y_test)),
            "skipped": len(raw.skipped), "skipped_files": raw.skipped, "params": int(model.count_params())}
