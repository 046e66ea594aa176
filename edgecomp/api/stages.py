"""Stage functions on an in-memory Keras model, for one technique inside your own training script.

Each runs the build's own code on a one-stage plan: the stage itself (`edgecomp.run.stages`; prune,
qat and distill return the model it left), and for quantize / export the export step
(`edgecomp.run.artifacts.export_artifacts`: every file converted, its labels and normalisation
embedded, run in its runtime against the Keras model, parity recorded). A Keras 3 model is brought
into tf-keras by the same bridge a Keras 3 file goes through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

from edgecomp.api.inputs import DataInput, dataset_reference, is_keras_model, model_reference
from edgecomp.api.plans import resolve_plan
from edgecomp.core.errors import UsageError


def quantize(model, data: DataInput, *, modes: Sequence[str] = ("int8",), out: Union[str, Path] = "runs/quantize",
             formats: Sequence[str] = ("tflite",), calibration_samples: Optional[int] = None, parity_samples: int = 500,
             normalization=None, class_names: Optional[Sequence[str]] = None) -> tuple[list[Path], dict]:
    """Post-training quantization of a Keras model: one file per mode, calibrated on training images.

    Args:
        model: a Keras 3 or tf-keras model object (logits or probabilities out).
        data: what calibrates and checks the files: (x_train, y_train, x_test, y_test) arrays, a dataset
            name, a `.npz` or an image folder (see `edgecomp.build`); the model must fit its images.
        modes: PTQ modes: "int8", "int8_io", "uint8_io", "int16x8", "float16", "dynamic".
        out: the folder; the files land in `out/artifacts/`.
        formats: "tflite" and/or "onnx" (ONNX gets a float file and, for int8, a QDQ int8 one).
        calibration_samples: training images the converter calibrates on [500; for the modes that calibrate].
        parity_samples: test images each file is compared with the Keras model on.
        normalization: how pixels become the model's input [unit]. class_names: for arrays.

    Returns:
        (files, info): the float32 baseline and one file per mode, and {"stage": the stage's record,
        "artifacts": one report.json entry per file: size, parity with Keras, status}.

    Raises:
        UsageError: an unknown mode or format. DatasetError: data that does not fit the model.

    Examples:
        >>> import edgecomp
        >>> edgecomp.quantize(None, "fashion_mnist", modes=["int4"])
        Traceback (most recent call last):
        ...
        edgecomp.core.errors.UsageError: model must be a Keras model object (Keras 3 or tf-keras), not a NoneType.
    """
    stage = {"stage": "quantize", "modes": list(modes)}
    if calibration_samples is not None:
        stage["calibration_samples"] = calibration_samples
    return run_export_stages(model, data, [stage], out, formats, parity_samples, normalization, class_names)


def export(model, out: Union[str, Path] = "runs/export", *, data: DataInput,
                 formats: Sequence[str] = ("tflite", "onnx"), parity_samples: int = 500, normalization=None,
                 class_names: Optional[Sequence[str]] = None) -> tuple[list[Path], dict]:
    """Float32 `.tflite` and `.onnx` files of a Keras model, each checked against it.


    Args:
        model: a Keras 3 or tf-keras model object.
        out: the folder; the files land in `out/artifacts/`.
        data: the test images each file is compared with the Keras model on, and the class names and
            normalisation embedded in the files (see `edgecomp.build`).
        formats: "tflite" and/or "onnx". parity_samples: test images compared.
        normalization: how pixels become the model's input [unit]. class_names: for arrays.

    Returns:
        (files, info) as `edgecomp.quantize` returns them.

    Raises:
        UsageError: an unknown format. ExportError: a model the converters cannot convert.

    Examples:
        >>> import edgecomp
        >>> edgecomp.export("model.keras", data="fashion_mnist")
        Traceback (most recent call last):
        ...
        edgecomp.core.errors.UsageError: model must be a Keras model object (Keras 3 or tf-keras), not a str.
    """
    return run_export_stages(model, data, [], out, formats, parity_samples, normalization, class_names)


def run_export_stages(model, data: DataInput, stages: list[dict], out, formats: Sequence[str], parity_samples: int,
                      normalization, class_names) -> tuple[list[Path], dict]:
    """Runs `stages` on `model` in a RunContext, then the build's export step; (files, info)."""
    from edgecomp.run.artifacts import export_artifacts

    ctx, records = run_stages_on(model, data, stages, out, normalization, class_names,
                                 export={"formats": list(formats), "parity_samples": parity_samples})
    artifacts = [record.to_dict() for record in export_artifacts(ctx)]
    files = [Path(out) / a["path"] for a in artifacts if a["status"] != "failed"]
    return files, {"stages": records, "artifacts": artifacts}


def run_stages_on(model, data: DataInput, stages: list[dict], out, normalization, class_names, export=None):
    """A RunContext holding `model` (as tf-keras) after `stages` ran on it, and the stages' records.

    The model is saved to `out/inputs/model.keras` and the plan names that file, so the stages treat it
    as a user's model file (e.g. distillation's `student: auto` narrows its own architecture).
    """
    from edgecomp.compress.context import RunContext
    from edgecomp.run.pipeline import load_plan_dataset
    from edgecomp.run.stages import STAGES

    if not is_keras_model(model):
        raise UsageError(f"model must be a Keras model object (Keras 3 or tf-keras), not a {type(model).__name__}.")
    out = Path(out)
    plan = resolve_plan({"export": export} if export else None, stages=stages, name=out.name,
                        model=model_reference(model, out), normalization=normalization,
                        dataset=dataset_reference(data, out, normalization, class_names))
    dataset = load_plan_dataset(plan)
    ctx = RunContext(plan=plan, data=dataset, run_dir=out, model=as_tf_keras(model, dataset))
    ctx.export_inputs.original_model = ctx.model  # the teacher of `teacher_kd` fine-tuning, as after `train`
    return ctx, [STAGES.get(stage.stage)(ctx, stage) for stage in plan.stages]


def run_model_stage(model, data: DataInput, stage: dict, out, normalization, class_names):
    """One stage on `model`: (the model it left, the stage's record as the report holds it)."""
    ctx, records = run_stages_on(model, data, [stage], out, normalization, class_names)
    return ctx.model, records[0]


def prune(model, data: DataInput, *, method: str = "global", sparsity: float = 0.5, epochs: Optional[int] = None,
          out: Union[str, Path] = "runs/prune", normalization=None, class_names: Optional[Sequence[str]] = None,
          **settings) -> tuple:
    """Prune a Keras model and fine-tune it: unstructured (local, global, 2:4) or structured (whole
    filters removed, through residual Adds and squeeze-excitation gates: a narrower network).

    Args:
        model: a Keras 3 or tf-keras model object (logits out).
        data: training and test images (see `edgecomp.build`).
        method: "local", "global", "structured" or "2:4". sparsity: fraction of weights (or filters) removed.
        epochs: fine-tuning epochs [the stage's default]. out: the folder for the stage's files.
        normalization, class_names: as in `edgecomp.build`.
        **settings: any other setting of the plan's prune stage (e.g. batch_size, teacher_kd).

    Returns:
        (pruned tf-keras model, the stage's record: parameters, MACs and sparsity before and after).

    Raises:
        ConfigError: an unknown method or setting.

    Examples:
        >>> import edgecomp
        >>> edgecomp.prune(None, "fashion_mnist")
        Traceback (most recent call last):
        ...
        edgecomp.core.errors.UsageError: model must be a Keras model object (Keras 3 or tf-keras), not a NoneType.
    """
    stage = {"stage": "prune", "method": method, "sparsity": sparsity, **settings}
    if epochs is not None:
        stage["epochs"] = epochs
    return run_model_stage(model, data, stage, out, normalization, class_names)


def qat(model, data: DataInput, *, epochs: Optional[int] = None, out: Union[str, Path] = "runs/qat",
        normalization=None, class_names: Optional[Sequence[str]] = None, **settings) -> tuple:
    """Quantization-aware training (int8) of a Keras model, with the layers tfmot cannot quantize kept float.

    Args:
        model: a Keras 3 or tf-keras model object (logits out).
        data: training and test images (see `edgecomp.build`).
        epochs: QAT epochs [the stage's default]. out: the folder for the stage's files.
        normalization, class_names: as in `edgecomp.build`.
        **settings: any other setting of the plan's qat stage.

    Returns:
        (the QAT tf-keras model, ready for `edgecomp.export`'s converter, the stage's record).

    Examples:
        >>> import edgecomp
        >>> edgecomp.qat("model.keras", "fashion_mnist")
        Traceback (most recent call last):
        ...
        edgecomp.core.errors.UsageError: model must be a Keras model object (Keras 3 or tf-keras), not a str.
    """
    stage = {"stage": "qat", **settings}
    if epochs is not None:
        stage["epochs"] = epochs
    return run_model_stage(model, data, stage, out, normalization, class_names)


def distill(teacher, student: str = "auto", data: DataInput = None, *, method: str = "kd",
            epochs: Optional[int] = None, out: Union[str, Path] = "runs/distill", normalization=None,
            class_names: Optional[Sequence[str]] = None, **settings) -> tuple:
    """Distill a Keras teacher into a smaller student: KD, TAKD, BYOT or DLB.

    Args:
        teacher: a Keras 3 or tf-keras model object (logits out).
        student: "auto" (the teacher's own architecture, narrower; `width=` sets how much) or a zoo name.
        data: training and test images (see `edgecomp.build`).
        method: "kd", "takd", "byot" or "dlb". epochs: distillation epochs [the stage's default].
        out: the folder for the stage's files. normalization, class_names: as in `edgecomp.build`.
        **settings: any other setting of the plan's distill stage (temperature, alpha, width, ...).

    Returns:
        (the distilled student, a tf-keras model, the stage's record).

    Examples:
        >>> import edgecomp
        >>> edgecomp.distill(None, "auto", "fashion_mnist")
        Traceback (most recent call last):
        ...
        edgecomp.core.errors.UsageError: model must be a Keras model object (Keras 3 or tf-keras), not a NoneType.
    """
    stage = {"stage": "distill", "method": method, "student": student, **settings}
    if epochs is not None:
        stage["epochs"] = epochs
    return run_model_stage(teacher, data, stage, out, normalization, class_names)


def as_tf_keras(model, dataset):
    """The tf-keras model the converters take: a Keras 3 object bridged (outputs compared on test images),
    after the same fit check a model file gets."""
    from edgecomp.core.tfenv import keras
    from edgecomp.models.bridge import bridge_keras3_model
    from edgecomp.models.load import check_model_fits_data

    if not isinstance(model, keras().Model):
        model = bridge_keras3_model(model, dataset.images("test", 128)).model
    check_model_fits_data(model, dataset)
    return model
