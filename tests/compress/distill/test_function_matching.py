"""Function matching (Beyer et al. 2022): with augmentation, the teacher sees the very batch the
student sees, flips, shifts and mixup included."""

import numpy as np

from edgecomp.compress.distiller import distiller_class
from edgecomp.compress.fitting import compile_wrapper
from edgecomp.core.tfenv import keras
from edgecomp.data.augment import AugmentConfig
from edgecomp.data.pipeline import stream


def recording_model(input_shape, batch: int, name: str):
    """Flatten -> Dense logits, with a first layer that keeps a copy of its input batch."""

    class Record(keras().layers.Layer):
        def build(self, shape):
            self.seen = self.add_weight(name="seen", shape=(batch, *input_shape), initializer="zeros",
                                        trainable=False)

        def call(self, images):
            self.seen.assign(images)
            return images

    inputs = keras().Input(input_shape)
    record = Record(name=f"{name}_record")
    outputs = keras().layers.Dense(10)(keras().layers.Flatten()(record(inputs)))
    return keras().Model(inputs, outputs, name=name), record


def test_teacher_and_student_see_the_same_augmented_batch(fmnist_small):
    augment = AugmentConfig(flip=True, shift=3, mixup=0.4)
    teacher, teacher_record = recording_model(fmnist_small.input_shape, 32, "teacher")
    student, student_record = recording_model(fmnist_small.input_shape, 32, "student")
    distiller = distiller_class()(student, teacher, temperature=4.0, alpha=0.9)
    compile_wrapper(distiller, 1e-3, 10)
    images, targets = next(iter(stream(fmnist_small, "train", 32, seed=5, augment=augment)))
    plain, _ = next(iter(stream(fmnist_small, "train", 32, seed=5)))  # same images, not augmented
    distiller.train_step((images, targets))  # on the fly: targets are the (mixed) labels only
    seen_by_teacher, seen_by_student = teacher_record.seen.numpy(), student_record.seen.numpy()
    np.testing.assert_array_equal(seen_by_teacher, seen_by_student)
    np.testing.assert_array_equal(seen_by_student, images.numpy())
    assert not np.allclose(seen_by_teacher, plain.numpy())  # and it is an augmented view


def test_kd_stage_defaults_to_on_the_fly_teacher_when_augmenting(fmnist_small, tmp_path):
    from types import SimpleNamespace

    from edgecomp.compress.context import RunContext
    from edgecomp.compress.distill.stage import run_distill
    from edgecomp.models.zoo import build_zoo_model
    from edgecomp.plan.stage_settings import DistillConfig

    teacher = build_zoo_model("cnn-tiny", fmnist_small.input_shape, fmnist_small.num_classes)
    small = fmnist_small.with_train(fmnist_small.pixels("train", 256), fmnist_small.labels("train", 256))
    ctx = RunContext(plan=SimpleNamespace(seed=0, model="cnn-teacher"), data=small, run_dir=tmp_path, model=teacher)
    info = run_distill(ctx, DistillConfig(student="cnn-tiny", epochs=1, batch_size=64, augment={"flip": True}))
    assert info["teacher_logits"] == "on_the_fly" and info["teacher_sees_student_view"] is True
    assert info["augment"]["flip"] is True
    assert info["bn_statistics"]["reestimated"] is True
