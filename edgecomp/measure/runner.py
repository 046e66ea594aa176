#!/usr/bin/env python3
"""Self-contained benchmark runner: copied to a device and run there as a plain script.

Needs only Python 3.8+, numpy (1.x or 2.x) and one runtime: ai_edge_litert, tflite_runtime or
tensorflow.lite for `.tflite`, onnxruntime for `.onnx`. It must never import edgecomp.

Usage:
    python runner.py MODEL --sample sample.npz --out result.json [--threads 1] [--warmup 20]
                     [--min-runs 100] [--min-time 2.0] [--max-runs 10000] [--runtime auto] [--no-xnnpack]

`sample.npz` holds `x` (uint8 pixels, shape (N, H, W, C)), `y` (int labels) and the
normalisation `scale` and `offset` (scalars or one per channel): the runner feeds a float model
x * scale + offset, and an int8/uint8-input model that value quantized with the model's own scale
and zero point. A float `x` without `scale` is taken as already normalised. The result JSON holds
latency statistics of single-image invocations, init time, memory (see `MemoryProbe`) and the
accuracy of the artifact itself on the sample. `--no-xnnpack` loads a `.tflite` without LiteRT's
default delegate (XNNPACK on CPU), on the builtin kernels alone, to measure what XNNPACK brings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import sys
import time

RUNNER_VERSION = 2


BYTES_PER_MB = 1e6  # reports use decimal megabytes


def _proc_status_mb(field: str):
    """A kB field of /proc/self/status (VmRSS, VmHWM) in MB; None where there is no /proc (macOS)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024 / BYTES_PER_MB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _ru_maxrss_mb() -> float:
    """Peak RSS from getrusage (kilobytes on Linux, bytes on macOS) in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / BYTES_PER_MB if sys.platform == "darwin" else peak * 1024 / BYTES_PER_MB


def _reset_peak() -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0: "5" to /proc/self/clear_refs); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class MemoryProbe:
    """The model's own memory, measured like LiteRT's benchmark_model.

    Created after the test images are loaded and the runtime library is imported, before the model
    exists: its RSS then is the baseline. model_load_mb = RSS after loading and allocating tensors
    minus the baseline; model_peak_mb = the peak RSS until the end of inference minus the baseline;
    process_peak_mb = the peak RSS of the whole runner process (interpreter, numpy, images).
    VmHWM is the process high-water mark, so it is reset at the baseline where the kernel allows
    (method "proc_status+clear_refs"); without the reset ("proc_status") a peak before the baseline
    can hide the model's peak, and model_peak_mb is then a lower bound. ru_maxrss never starts
    afresh at exec (it carries a parent's peak), so it is used only where /proc is missing.
    """

    def __init__(self):
        self.has_proc = _proc_status_mb("VmRSS") is not None
        self.peak_reset = self.has_proc and _reset_peak()
        self.rss_before_mb = _proc_status_mb("VmRSS")
        self.hwm_before_mb = _proc_status_mb("VmHWM")
        self.rss_after_load_mb = None

    def loaded(self) -> None:
        self.rss_after_load_mb = _proc_status_mb("VmRSS")

    def result(self) -> dict:
        if not self.has_proc:
            return {"method": "ru_maxrss (no /proc: process peak only)", "peak_reset": False,
                    "rss_before_mb": None, "rss_after_load_mb": None, "model_load_mb": None,
                    "model_peak_mb": None, "process_peak_mb": _ru_maxrss_mb()}
        peak = _proc_status_mb("VmHWM")
        return {
            "method": "proc_status+clear_refs" if self.peak_reset else "proc_status",
            "peak_reset": self.peak_reset,
            "rss_before_mb": self.rss_before_mb,
            "rss_after_load_mb": self.rss_after_load_mb,
            "model_load_mb": self.rss_after_load_mb - self.rss_before_mb,
            "model_peak_mb": max(peak - self.rss_before_mb, self.rss_after_load_mb - self.rss_before_mb),
            # Without a reset, a high-water mark above the baseline RSS was reached before the model.
            "peak_before_model_mb": None if self.peak_reset else self.hwm_before_mb,
            "process_peak_mb": peak,
        }


def _load_tflite_interpreter(preferred: str):
    """Returns (Interpreter class, runtime name, version), trying runtimes in the documented order."""
    order = ["ai_edge_litert", "tflite_runtime", "tensorflow"] if preferred == "auto" else [preferred]
    errors = []
    for name in order:
        try:
            if name == "ai_edge_litert":
                import ai_edge_litert as module
                from ai_edge_litert.interpreter import Interpreter
            elif name == "tflite_runtime":
                import tflite_runtime as module
                from tflite_runtime.interpreter import Interpreter
            elif name == "tensorflow":
                import tensorflow as module
                Interpreter = module.lite.Interpreter
            else:
                raise ImportError("unknown TFLite runtime %r" % name)
            return Interpreter, name, getattr(module, "__version__", "unknown")
        except ImportError as err:
            errors.append("%s: %s" % (name, err))
    raise SystemExit("no TFLite runtime could be imported (%s); install ai-edge-litert or tflite-runtime"
                     % "; ".join(errors))


# An older runtime's message for an op (or op version) it lacks; the useful part of a multi-line error.
_MISSING_OP = re.compile(r"Didn't find op for builtin opcode '([A-Z0-9_]+)' version '(\d+)'")


def load_error_line(runtime: str, version: str, err: Exception) -> str:
    """One line naming what failed: the missing op and version when the runtime says so."""
    message = str(err)
    match = _MISSING_OP.search(message)
    if match:
        reason = "%s has no op %s version %s (the file needs a newer runtime, or a conversion without it)" % (
            runtime, match.group(1), match.group(2))
    else:
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        reason = "%s: %s" % (type(err).__name__, lines[0][:300] if lines else "no message")
    return "cannot load the model with %s %s: %s" % (runtime, version, reason)


class TfliteModel:
    @staticmethod
    def import_runtime(preferred: str):
        """Imports the runtime library (before the memory baseline: the library is not the model)."""
        return _load_tflite_interpreter(preferred)

    def __init__(self, path: str, threads: int, runtime, xnnpack: bool = True):
        Interpreter, self.runtime, self.runtime_version = (
            _load_tflite_interpreter(runtime) if isinstance(runtime, str) else runtime)
        self.xnnpack = xnnpack
        # The three runtimes define OpResolverType beside their Interpreter; AUTO applies the default
        # delegates (XNNPACK on CPU), BUILTIN_WITHOUT_DEFAULT_DELEGATES leaves them out.
        resolvers = sys.modules[Interpreter.__module__].OpResolverType
        resolver = resolvers.AUTO if xnnpack else resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        start = time.perf_counter()
        try:
            self.interpreter = Interpreter(model_path=path, num_threads=threads,
                                           experimental_op_resolver_type=resolver)
            self.interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as err:
            # The runtimes' own message spans lines and ends in "Registration failed."; the caller
            # shows the last line of stderr, so that line must name the op.
            raise SystemExit(load_error_line(self.runtime, self.runtime_version, err)) from None
        self.init_ms = (time.perf_counter() - start) * 1e3
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def describe(self) -> dict:
        return {
            "input_dtype": str(self.input["dtype"].__name__),
            "input_shape": [int(d) for d in self.input["shape"]],
            "input_quantization": [float(self.input["quantization"][0]), int(self.input["quantization"][1])],
            "output_dtype": str(self.output["dtype"].__name__),
            "output_quantization": [float(self.output["quantization"][0]), int(self.output["quantization"][1])],
        }

    def prepare(self, image, normalization=None):
        """Pixels (H, W, C) -> the model's input tensor (1, H, W, C), quantized if it is integer."""
        import numpy as np

        batch = normalize(image, normalization)[None, ...]
        scale, zero_point = self.input["quantization"]
        if self.input["dtype"] in (np.int8, np.uint8, np.int16):
            info = np.iinfo(self.input["dtype"])
            batch = np.clip(np.round(batch / scale + zero_point), info.min, info.max)
        return batch.astype(self.input["dtype"])

    def invoke(self, prepared):
        self.interpreter.set_tensor(self.input["index"], prepared)
        self.interpreter.invoke()

    def output_scores(self):
        import numpy as np

        scores = self.interpreter.get_tensor(self.output["index"])
        scale, zero_point = self.output["quantization"]
        if scale:
            scores = (scores.astype(np.float32) - zero_point) * scale
        return scores


class OnnxModel:
    @staticmethod
    def import_runtime(preferred: str):
        import onnxruntime

        return onnxruntime

    def __init__(self, path: str, threads: int, runtime=None):
        import onnxruntime

        self.runtime, self.runtime_version = "onnxruntime", onnxruntime.__version__
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        start = time.perf_counter()
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.init_ms = (time.perf_counter() - start) * 1e3
        self.input = self.session.get_inputs()[0]
        self.outputs = None

    def describe(self) -> dict:
        return {"input_dtype": self.input.type, "input_shape": [str(d) for d in self.input.shape],
                "input_quantization": None, "output_dtype": self.session.get_outputs()[0].type,
                "output_quantization": None}

    def prepare(self, image, normalization=None):
        return normalize(image, normalization)[None, ...]

    def invoke(self, prepared):
        self.outputs = self.session.run(None, {self.input.name: prepared})

    def output_scores(self):
        return self.outputs[0]


def normalize(image, normalization):
    """uint8 pixels -> float32 x * scale + offset, computed in float64 so that it equals the
    training pipeline's float32 pixel / 255 bit for bit; None: already normalised float."""
    import numpy as np

    if normalization is None:
        return image.astype(np.float32)
    scale, offset = normalization
    return (image.astype(np.float64) * scale + offset).astype(np.float32)


def load_sample(path: str):
    """(images, labels, normalization or None) from the sample .npz (no pickles)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as sample:
        images, labels = sample["x"], sample["y"]
        normalization = None
        if "scale" in sample.files:
            normalization = (sample["scale"].astype(np.float64), sample["offset"].astype(np.float64))
        elif images.dtype.kind in "ui":
            raise SystemExit("%s holds integer pixels but no scale/offset to normalise them" % path)
    return images, labels, normalization


def _percentile(sorted_values, q: float) -> float:
    """Linear-interpolated percentile of an already sorted list (numpy's default method)."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    rank = (len(sorted_values) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def latency_stats(latencies_ms) -> dict:
    """mean, std, min, max and p50/p90/p99 of a list of latencies in milliseconds."""
    values = sorted(latencies_ms)
    mean = sum(values) / len(values)
    variance = sum((v - mean) ** 2 for v in values) / len(values)
    return {"mean": mean, "std": variance ** 0.5, "min": values[0], "max": values[-1],
            "p50": _percentile(values, 50), "p90": _percentile(values, 90), "p99": _percentile(values, 99)}


def time_invocations(model, prepared, warmup: int, min_runs: int, min_time_s: float, max_runs: int):
    """Warm-up, then single-image invocations until both `min_runs` and `min_time_s` are reached."""
    for _ in range(warmup):
        model.invoke(prepared)
    latencies_ms = []
    started = time.perf_counter()
    while len(latencies_ms) < max_runs:
        t0 = time.perf_counter_ns()
        model.invoke(prepared)
        latencies_ms.append((time.perf_counter_ns() - t0) / 1e6)
        if len(latencies_ms) >= min_runs and time.perf_counter() - started >= min_time_s:
            break
    return latencies_ms


def measure_accuracy(model, images, labels, normalization=None):
    """Top-1 accuracy of the artifact, one image at a time, exactly as an app would feed it."""
    import numpy as np

    correct = 0
    for image, label in zip(images, labels):
        model.invoke(model.prepare(image, normalization))
        correct += int(np.argmax(model.output_scores()) == int(label))
    return correct / len(labels)


def run(args) -> dict:
    import numpy as np

    images, labels, normalization = load_sample(args.sample)
    model_cls = OnnxModel if args.model.endswith(".onnx") else TfliteModel
    runtime = model_cls.import_runtime(args.runtime)
    memory = MemoryProbe()  # baseline: images held, runtime imported, no model yet
    if args.no_xnnpack and model_cls is not TfliteModel:
        raise SystemExit("--no-xnnpack applies to .tflite files; onnxruntime has no XNNPACK by default")
    model = model_cls(args.model, args.threads, runtime, **({"xnnpack": False} if args.no_xnnpack else {}))
    memory.loaded()
    latencies = time_invocations(model, model.prepare(images[0], normalization), args.warmup, args.min_runs,
                                 args.min_time, args.max_runs)
    accuracy = measure_accuracy(model, images, labels, normalization) if not args.no_accuracy else None
    footprint = memory.result()
    return {
        "runner_version": RUNNER_VERSION,
        "model": os.path.basename(args.model),
        "runtime": {"name": model.runtime, "version": model.runtime_version},
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "threads": args.threads,
        "xnnpack": getattr(model, "xnnpack", False),  # LiteRT's default delegate; onnxruntime has none
        "io": model.describe(),
        "sample": {"dtype": images.dtype.name, "images": int(len(images)),
                   "normalized_by_runner": normalization is not None},
        "init_ms": model.init_ms,
        "runs": len(latencies),
        "warmup": args.warmup,
        "latency_ms": latency_stats(latencies),
        "latencies_ms": latencies,
        "memory": footprint,
        "model_load_mb": footprint["model_load_mb"],
        "model_peak_mb": footprint["model_peak_mb"],
        "process_peak_mb": footprint["process_peak_mb"],
        "accuracy": accuracy,
        "accuracy_samples": None if accuracy is None else int(len(labels)),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--sample", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--min-runs", type=int, default=100)
    parser.add_argument("--min-time", type=float, default=2.0)
    parser.add_argument("--max-runs", type=int, default=100000)
    parser.add_argument("--runtime", default="auto")
    parser.add_argument("--no-accuracy", action="store_true")
    parser.add_argument("--no-xnnpack", action="store_true",
                        help="a .tflite without LiteRT's default delegate (XNNPACK): builtin kernels only")
    args = parser.parse_args(argv)
    result = run(args)
    # Write then rename, so a killed run never leaves a half-written result that looks complete.
    tmp = args.out + ".partial"
    with open(tmp, "w") as handle:
        json.dump(result, handle)
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
