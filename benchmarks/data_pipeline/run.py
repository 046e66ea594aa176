"""Is training at 96x96 RGB bound by compute or by the input pipeline?

Builds a 1,250-image folder of real Fashion-MNIST images (RGB JPEG/PNG, mixed sizes, one corrupt
file), loads it at 96x96 RGB (uint8), then measures images per second of
  1. the tf.data stream alone (gather uint8 batch, normalise, flip + shift augmentation),
  2. one training epoch of the zoo teacher fed by that stream,
  3. the same epoch fed by Keras from a float32 array already in memory (no pipeline at all).
If (1) is far above (2) and (2) is close to (3), the pipeline is not what limits training.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/data_pipeline/run.py [--folder /tmp/folder]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", default="/tmp/edgecomp-bench-folder")
    args = parser.parse_args()
    from conftest import write_fmnist_folder

    from edgecomp.compress.fitting import compile_for_training, fit
    from edgecomp.core.tfenv import seed_everything
    from edgecomp.data.augment import AugmentConfig
    from edgecomp.data.dataset import load_dataset
    from edgecomp.data.pipeline import stream
    from edgecomp.models.zoo import build_zoo_model

    folder = Path(args.folder)
    if not folder.exists():
        write_fmnist_folder(folder, 1250)
    started = time.perf_counter()
    data = load_dataset(str(folder), size=(96, 96))
    load_seconds = time.perf_counter() - started
    n = data.count("train")
    augment = AugmentConfig(flip=True, shift=0.1)

    batches = stream(data, "train", 128, shuffle=True, augment=augment)
    for _ in batches:  # first epoch traces the map functions
        pass
    started = time.perf_counter()
    for _ in range(3):
        for images, _labels in batches:
            pass
    stream_rate = 3 * n / (time.perf_counter() - started)

    seed_everything(0)
    model = build_zoo_model("cnn-teacher", data.input_shape, data.num_classes)
    fit(model, data, 1, 128, 2e-3, "warm-up")  # graph tracing and allocation out of the timing
    info = fit(model, data, 1, 128, 2e-3, "stream", augment=augment)
    fit_stream_rate = n / info["seconds_per_epoch"]

    images = data.images("train")  # float32 in memory: the no-pipeline baseline
    compile_for_training(model, 2e-3, 100)
    model.fit(images, data.labels("train"), batch_size=128, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(images, data.labels("train"), batch_size=128, epochs=1, verbose=0)
    fit_array_rate = n / (time.perf_counter() - started)

    result = {"train_images": n, "input_shape": list(data.input_shape), "load_seconds": round(load_seconds, 2),
              "held_mb": round(data.memory_bytes() / 1e6, 1), "skipped": len(data.skipped),
              "stream_only_images_per_s": round(stream_rate), "fit_with_stream_images_per_s": round(fit_stream_rate, 1),
              "fit_from_float32_array_images_per_s": round(fit_array_rate, 1), "cpu_count": os.cpu_count()}
    print(json.dumps(result, indent=2))
    (Path(__file__).parent / "results.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
