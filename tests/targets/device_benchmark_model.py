"""Stand-in for LiteRT's `benchmark_model`, run on the loopback adb device (tests/targets/adb_device.py).

No prebuilt benchmark_model can be downloaded here, and none runs on x86_64 Python's wheels. This
script takes the same flags, really loads and runs the model with this machine's LiteRT interpreter
(random inputs, warm-up then timed runs, wall-clock per run) and prints what benchmark_model prints, in
its format and order:
- the log lines and `count=` stat lines: BenchmarkModel::Run, BenchmarkLoggingListener::OnBenchmarkEnd
  (tflite/tools/benchmark/benchmark_model.cc) and Stat::OutputToStream (stats_calculator.h), with the
  p5/median/p95 suffix recent LiteRT versions print; numbers in C++ stream default format (%g);
- the op profile (--enable_op_profiling=true): ProfileSummaryDefaultFormatter / CSVFormatter
  (google-ai-edge/LiteRT tflite/profiling/profile_summary_formatter.cc @ 7994e0a0) over
  StatsCalculator's tables (xla/tsl/util/stats_calculator.cc: 40-wide node type, no [start] column),
  node names as tflite/profiling/profile_summarizer.cc builds them ("[output tensor names]:node index");
- on failure: the ERROR lines, "Benchmarking failed." and exit code 1 (EXIT_FAILURE).
What differs: per-op times are NOT measured (the Python interpreter exposes no per-op timing): each
run's measured time is apportioned over the model's real ops by their multiply-accumulates
(output elements x weights per output channel; 1 per output element for ops without weights). Memory figures are this
process's RSS growth.
"""

import math
import os
import resource
import sys
import time

import numpy as np


def log(line=""):
    print(f"INFO: {line}" if line else "", flush=True)


def fail(*lines):
    for line in lines:
        print(f"ERROR: {line}", flush=True)
    print("ERROR: Benchmarking failed.", flush=True)
    sys.exit(1)


def stat_line(values_us):
    """Stat<int64>::OutputToStream plus the percentile suffix."""
    values = [int(v) for v in values_us]
    count = len(values)
    quantiles = np.percentile(values, [5, 50, 95]).astype(int) if values else [0, 0, 0]
    tail = f" p5={quantiles[0]} median={quantiles[1]} p95={quantiles[2]}"
    if count == 1 or len(set(values)) == 1:
        return f"count={count} curr={values[-1]}" + ("(all same)" if count > 1 else "") + tail
    avg = sum(values) / count
    std = int(math.sqrt(max(sum(v * v for v in values) / count - avg * avg, 0)))
    return (f"count={count} first={values[0]} curr={values[-1]} min={min(values)} max={max(values)} "
            f"avg={avg:g} std={std}" + tail)


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_phase(interpreter, inputs, min_runs, min_secs, max_secs):
    log(f"Running benchmark for at least {min_runs} iterations and at least {min_secs:g} seconds but terminate "
        f"if exceeding {max_secs:g} seconds.")
    times, started = [], time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - started < min_secs:
        for detail, value in inputs:
            interpreter.set_tensor(detail["index"], value)
        begin = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - begin) * 1e6)
        if time.perf_counter() - started > max_secs:
            break
    log(stat_line(times))
    log()
    return times


def random_inputs(interpreter):
    rng = np.random.default_rng(0)
    inputs = []
    for detail in interpreter.get_input_details():
        dtype = np.dtype(detail["dtype"])
        if dtype.kind == "f":
            value = rng.random(detail["shape"]).astype(dtype)
        else:
            info = np.iinfo(dtype)
            value = rng.integers(info.min, info.max, detail["shape"], endpoint=True).astype(dtype)
        inputs.append((detail, value))
    return inputs


def multiply_accumulates(op, tensors):
    """Output elements x the weight tensor's elements per output channel (conv [O,H,W,I], dense [O,I])."""
    outputs = sum(int(np.prod(tensors[i]["shape"])) for i in op["outputs"] if i in tensors)
    weights = [tensors[i]["shape"] for i in list(op["inputs"])[1:2] if i in tensors and len(tensors[i]["shape"]) >= 2]
    per_output = int(np.prod(weights[0][1:])) if weights else 1
    return max(1, outputs * per_output)


def op_rows(interpreter, run_times_us):
    """[(node type, name, run order, [per-run us])]: each run apportioned over the ops by MACs, whole us
    like the profiler's int64 elapsed times."""
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    # the model's own nodes; the DELEGATE nodes XNNPACK added are left out, as with --use_xnnpack=false
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]
    weights = [multiply_accumulates(op, tensors) for op in ops]
    total = float(sum(weights))
    rows = []
    for order, (op, weight) in enumerate(zip(ops, weights)):
        names = ", ".join(tensors[i]["name"] for i in op["outputs"] if i in tensors)  # as profile_summarizer
        rows.append((op["op_name"], f"[{names}]:{op['index']}", order, [int(t * weight / total) for t in run_times_us]))
    return rows


def profile_tables(rows, run_times_us, csv):
    """StatsCalculator::GetOutputString (Run Order, Top by Computation Time, Summary by node type) + summary."""
    out = []
    sum_all = sum(run_times_us)

    def field(value, width, fmt):
        return "\t" + format(value, fmt).rjust(width)

    def table(title, ordered):
        out.append(f"============================== {title} ==============================")
        if csv:
            out.append("node type, first, avg_ms, %, cdf%, mem KB, times called, name")
        else:
            out.append(field("[node type]", 40, "") + field("[first]", 9, "") + field("[avg ms]", 9, "")
                       + field("[%]", 8, "") + field("[cdf%]", 8, "") + field("[mem KB]", 10, "")
                       + field("[times called]", 9, "") + "\t[Name]")
        cumulative = 0.0
        for node_type, name, _, times in ordered:
            cumulative += sum(times)
            first, avg = times[0] / 1000.0, sum(times) / len(times) / 1000.0
            pct, cdf = sum(times) * 100.0 / sum_all, cumulative * 100.0 / sum_all
            if csv:
                out.append(f"{node_type}, {first:g}, {avg:g}, {pct:g}%, {cdf:g}%, 0, 1, {name.replace(',', chr(9))}")
            else:
                out.append(field(node_type, 40, "") + field(first, 9, ".3f") + field(avg, 9, ".3f")
                           + field(pct, 7, ".3f") + "%" + field(cdf, 7, ".3f") + "%" + field(0.0, 10, ".3f")
                           + field(1, 9, "d") + "\t" + name)
        out.append("")

    table("Run Order", rows)
    table("Top by Computation Time", sorted(rows, key=lambda r: -sum(r[3]))[:10])
    by_type = {}
    for node_type, _, _, times in rows:
        count, total_us = by_type.get(node_type, (0, 0))
        by_type[node_type] = (count + 1, total_us + int(sum(times) / len(times)))
    accumulated = sum(total for _, total in by_type.values())
    out.append(f"Number of nodes executed: {len(rows)}")
    out.append("============================== Summary by node type ==============================")
    if csv:
        out.append("node type, count, avg_ms, avg %, cdf %, mem KB, times called")
    else:
        out.append(field("[Node type]", 40, "") + field("[count]", 9, "") + field("[avg ms]", 10, "")
                   + field("[avg %]", 11, "") + field("[cdf %]", 11, "") + field("[mem KB]", 10, "")
                   + field("[times called]", 10, ""))
    cdf = 0.0
    for node_type, (count, total_us) in sorted(by_type.items(), key=lambda item: (-item[1][1], item[0])):
        pct = total_us * 100.0 / accumulated if accumulated else 0.0
        cdf += pct
        if csv:
            out.append(f"{node_type}, {count}, {total_us / 1000.0:g}, {pct:g}%, {cdf:g}%, 0, {count}")
        else:
            out.append(field(node_type, 40, "") + field(count, 9, "d") + field(total_us / 1000.0, 10, ".3f")
                       + field(pct, 10, ".3f") + "%" + field(cdf, 10, ".3f") + "%" + field(0.0, 10, ".3f")
                       + field(count, 9, "d"))
    out.append("")
    out.append("Timings (microseconds): " + stat_line(run_times_us).split(" p5=")[0])
    out.append("Memory (bytes): count=0")
    out.append(f"{len(rows)} nodes observed")
    out.append("")
    return "\n".join(out)


def main(argv):
    flags = dict(arg[2:].split("=", 1) for arg in argv if arg.startswith("--") and "=" in arg)
    graph = flags.get("graph", "")
    threads = int(flags.get("num_threads", "-1"))
    log("STARTING!")
    log("Log parameter values verbosely: [0]")
    for flag, label in (("num_runs", "Min num runs"), ("min_secs", "Min runs duration (seconds)"),
                        ("max_secs", "Max runs duration (seconds)"), ("num_threads", "Num threads"),
                        ("warmup_runs", "Min warmup runs")):
        if flag in flags:
            log(f"{label}: [{flags[flag]}]")
    log(f"Graph: [{graph}]")
    if flags.get("enable_op_profiling") == "true":
        log("Enable op profiling: [1]")
    if not os.path.isfile(graph):
        fail(f"Could not open '{graph}'.", f"Failed to mmap model {graph}")
    start_rss, started = rss_mb(), time.perf_counter()
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=graph, num_threads=threads if threads > 0 else None)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        fail(str(err).splitlines()[0], f"Failed to mmap model {graph}")
    log(f"Loaded model {graph}")
    log("Initialized TensorFlow Lite runtime.")
    init_us = (time.perf_counter() - started) * 1e6
    init_rss = rss_mb() - start_rss
    log(f"The input model file size (MB): {os.path.getsize(graph) / 1e6:g}")
    log(f"Initialized session in {init_us / 1000.0:g}ms.")
    inputs = random_inputs(interpreter)
    max_secs = float(flags.get("max_secs", "150"))
    warmup = run_phase(interpreter, inputs, int(flags.get("warmup_runs", "1")),
                       float(flags.get("warmup_min_secs", "0.5")), max_secs)
    timed = run_phase(interpreter, inputs, int(flags.get("num_runs", "50")), float(flags.get("min_secs", "1")),
                      max_secs)
    log(f"Inference timings in us: Init: {int(init_us)}, First inference: {int(warmup[0])}, "
        f"Warmup (avg): {sum(warmup) / len(warmup):g}, Inference (avg): {sum(timed) / len(timed):g}")
    log("Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the "
        "actual memory footprint of the model at runtime. Take the information at your discretion.")
    log(f"Memory footprint delta from the start of the tool (MB): init={init_rss:g} "
        f"overall={rss_mb() - start_rss:g}")
    if flags.get("report_peak_memory_footprint") == "true":
        log(f"Overall peak memory footprint (MB) via periodic monitoring: {rss_mb():g}")
    if flags.get("enable_op_profiling") == "true":
        csv = flags.get("op_profiling_output_mode") == "csv"
        report = profile_tables(op_rows(interpreter, timed), timed, csv)
        target = flags.get("op_profiling_output_file")
        if target:
            with open(target, "w") as handle:
                handle.write(f"Operator-wise Profiling Info for Regular Benchmark Runs:\n{report}\n")
        else:
            print(f"INFO: Operator-wise Profiling Info for Regular Benchmark Runs:\n{report}\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
