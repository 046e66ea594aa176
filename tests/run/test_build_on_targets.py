"""`edgecomp build --target A --target B` and `edgecomp.build(..., target=[A, B])`: the model is trained,
compressed and exported once, then every file is measured on each target.

The two targets are this host's profile and a second host profile with 2 threads (its own name, so its
own report folder): both real runners on this machine. A cnn-tiny build on 1,500 real Fashion-MNIST
images takes about a minute here, so the end-to-end tests are slow; the usage errors are fast.
"""

from __future__ import annotations

import json
import socket

import pytest
import yaml
from typer.testing import CliRunner

from edgecomp.cli.main import app

runner = CliRunner()
PLAN = """
name: multi
model: cnn-tiny
dataset: {name: fashion_mnist, train_limit: 1500, test_limit: 300}
stages:
  - {stage: train, epochs: 3, batch_size: 64, learning_rate: 0.01}
  - {stage: quantize, modes: [int8], calibration_samples: 100}
export: {formats: [tflite], parity_samples: 100}
bench: {warmup: 2, min_runs: 10, min_time_s: 0}
"""
FILES = ["model_float32.tflite", "model_int8.tflite"]


@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    """(plan YAML, a second host profile named host-b with 2 threads)."""
    folder = tmp_path_factory.mktemp("multi")
    plan, second = folder / "plan.yaml", folder / "host-b.yaml"
    plan.write_text(PLAN)
    second.write_text(yaml.safe_dump({"name": "host-b", "kind": "host", "threads": 2}))
    return plan, second


@pytest.fixture(scope="module")
def cli_build(profiles, tmp_path_factory):
    plan, second = profiles
    out = tmp_path_factory.mktemp("cli") / "run"
    result = runner.invoke(app, ["build", "--config", str(plan), "--target", "host", "--target", str(second),
                                 "--out", str(out), "--max-latency-ms", "1000"], env={"COLUMNS": "200"})
    return out, result


@pytest.mark.slow
def test_one_compression_every_file_on_each_target_one_report(cli_build):
    out, result = cli_build
    assert result.exit_code == 0, result.output
    assert result.output.count("stage 1/2: train") == 1 and result.output.count("exporting model_int8.tflite") == 1
    assert "target 1/2: host" in result.output and "target 2/2: host-b" in result.output
    assert "edgecomp: build on 2 targets" in result.output and "to ship on every target" in result.output

    combined = json.loads((out / "report.json").read_text())
    assert combined["kind"] == "multi_target" and combined["run"] == "build"
    assert [t["name"] for t in combined["targets"]] == ["host", "host-b"]
    assert [t["status"] for t in combined["targets"]] == ["ok", "ok"] and combined["artifacts"] == FILES
    assert [s["stage"] for s in combined["stages"]] == ["train", "quantize"]
    assert combined["gates"]["max_latency_ms"] == 1000 and combined["gate_violations"] == []
    assert combined["recommended"]["name"] in FILES and combined["recommended"]["rule"] == "gates"
    assert set(combined["recommended"]["per_target"]) == {"host", "host-b"}
    # the files exist once; each target's report measures them in place
    assert sorted(p.name for p in (out / "artifacts").glob("*.tflite")) == FILES
    assert not (out / "host" / "artifacts").exists() and not (out / "host-b" / "artifacts").exists()
    for column, threads in zip(combined["targets"], (1, 2)):
        report = json.loads((out / column["name"] / "report.json").read_text())
        assert report["target"]["name"] == column["name"] and report["plan"]["bench"]["threads"] == threads
        assert [s["stage"] for s in report["stages"]] == ["train", "quantize"] and report["keras"]["accuracy"] > 0.5
        assert [a["path"] for a in report["artifacts"]] == [f"../artifacts/{name}" for name in FILES]
        for entry in report["artifacts"]:
            assert entry["status"] == "ok" and entry["latency_ms"]["p50"] > 0 and entry["threads"] == threads
            assert entry["parity"]["passed"] and entry["model_card"] == f"../artifacts/{entry['name']}.json"
            assert column["artifacts"][entry["name"]]["accuracy"] == entry["accuracy"]
        assert (out / column["name"] / "report.md").is_file() and (out / column["name"] / "report.html").is_file()
    card = json.loads((out / "artifacts" / "model_int8.tflite.json").read_text())
    assert card["accuracy"] == combined["targets"][0]["artifacts"]["model_int8.tflite"]["accuracy"]

    markdown = (out / "report.md").read_text()
    assert markdown.startswith("# edgecomp build on 2 targets")
    header = next(line for line in markdown.splitlines() if line.startswith("| artifact"))
    assert "host p50 ms" in header and "host-b p50 ms" in header
    assert f"| ★ {combined['recommended']['name']} |" in markdown


@pytest.mark.slow
def test_a_latency_gate_is_checked_on_every_target_and_exits_3(cli_build, profiles):
    """The same plan again (its stages from the stage cache): a gate no file can meet, missed on both targets."""
    plan, second = profiles
    out = cli_build[0].parent / "gated"
    result = runner.invoke(app, ["build", "--config", str(plan), "--target", "host", "--target", str(second),
                                 "--out", str(out), "--max-latency-ms", "0.000001"])
    assert result.exit_code == 3, result.output
    assert "reused from cache" in result.output
    combined = json.loads((out / "report.json").read_text())
    assert combined["recommended"]["name"] is None
    missed = combined["gate_violations"]
    assert {line.split(":")[0] for line in missed} == {"on host", "on host-b"} and len(missed) == 4
    assert "on host-b: model_int8.tflite: latency p50" in (out / "report.md").read_text()


@pytest.mark.slow
def test_build_from_python_on_two_targets_returns_a_result_per_target(profiles, tmp_path):
    import edgecomp

    plan, second = profiles
    result = edgecomp.build(plan=plan, target=["host", str(second)], out=tmp_path / "run")
    assert isinstance(result, edgecomp.MultiTargetResult)
    assert result.targets == ("host", "host-b") and result.failed_targets == {}
    assert set(result.per_target) == {"host", "host-b"}
    assert all(isinstance(r, edgecomp.BuildResult) for r in result.per_target.values())
    assert [a.name for a in result.artifacts] == FILES
    assert result.recommended is not None and result.recommended.path.is_file()
    assert result.recommended.path.parent == (tmp_path / "run" / "artifacts").resolve()
    # the worst case over the targets: the slower latency of the two
    slower = max(r.report["artifacts"][1]["latency_ms"]["p50"] for r in result.per_target.values())
    assert result.artifacts[1].latency_p50_ms == slower
    assert len(result.to_pandas()) == 4 and set(result.to_pandas()["target"]) == {"host", "host-b"}
    assert "host-b p50 ms" in result._repr_html_() and "to ship on every target" in result._repr_html_()
    result.raise_for_status()
    again = edgecomp.report.load(tmp_path / "run")  # read back from the run folder
    assert isinstance(again, edgecomp.MultiTargetResult) and again.recommended == result.recommended
    assert again.per_target["host-b"].report == result.per_target["host-b"].report


def test_a_misspelled_second_target_is_a_usage_error_before_training(profiles, tmp_path):
    plan, _ = profiles
    result = runner.invoke(app, ["build", "--config", str(plan), "--target", "host", "--target", "rpi44",
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "unknown target" in result.output and "rpi4" in result.output
    assert "stage 1/" not in result.output and not (tmp_path / "run").exists()


def test_a_target_given_twice_is_a_usage_error(profiles, tmp_path):
    plan, _ = profiles
    result = runner.invoke(app, ["build", "--config", str(plan), "--target", "host", "--target", "host",
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "target host is given twice" in result.output


def test_an_unreachable_target_fails_the_build_before_training(profiles, tmp_path):
    plan, _ = profiles
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    board = tmp_path / "board.yaml"
    board.write_text(yaml.safe_dump({"name": "board", "kind": "ssh", "ssh": {
        "host": "127.0.0.1", "port": port, "connect_timeout_s": 3, "known_hosts": str(tmp_path / "known_hosts")}}))
    result = runner.invoke(app, ["build", "--config", str(plan), "--target", "host", "--target", str(board),
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output
    assert "cannot reach 127.0.0.1" in result.output and "stage 1/" not in result.output
