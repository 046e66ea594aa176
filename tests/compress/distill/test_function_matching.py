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


def test_kd_stage_runs_the_teacher_on_the_batches_the_student_trains_on(fmnist_small, recording_model,
                                                                        recorded_batches, raw_batch_check, tmp_path):
    """The kd stage with augmentation and no `teacher_logits` setting, observed: the teacher and the
    student (a model file) each start with a layer that records every batch they are called on. Each
    teacher batch is an augmented view, and the very one the student trained on at that step."""
    from types import SimpleNamespace

    from edgecomp.compress.context import RunContext
    from edgecomp.compress.distill.stage import run_distill
    from edgecomp.plan.stage_settings import DistillConfig

    small = fmnist_small.with_train(fmnist_small.pixels("train", 256), fmnist_small.labels("train", 256))
    teacher = recording_model("teacher", small.input_shape, small.num_classes)
    student_file = tmp_path / "student.keras"
    recording_model("student", small.input_shape, small.num_classes).save(student_file)
    ctx = RunContext(plan=SimpleNamespace(seed=0, model="cnn-teacher"), data=small, run_dir=tmp_path, model=teacher)
    info = run_distill(ctx, DistillConfig(student=str(student_file), epochs=1, batch_size=64,
                                          augment={"flip": True, "shift": 2}))

    raw_images = small.images("train")
    teacher_views = [images for images, _ in recorded_batches["teacher_inputs"]]
    # The student is also called on raw images (BatchNorm passes) and in inference mode (validation).
    student_views = [images for images, training in recorded_batches["student_inputs"]
                     if training and not raw_batch_check(images, raw_images)]
    assert len(teacher_views) == 256 // 64  # one call per training step, no pass of its own over the data
    assert not any(raw_batch_check(view, raw_images) for view in teacher_views)
    assert len(student_views) == len(teacher_views)
    for teacher_view, student_view in zip(teacher_views, student_views):
        np.testing.assert_array_equal(teacher_view, student_view)
    assert info["teacher_logits"] == "on_the_fly" and info["teacher_sees_student_view"] is True
    assert info["augment"]["flip"] is True
