"""The AI Edge Quantizer recipes as precisions of a build: plan syntax checked when read, files exported,
parity-checked, benchmarked, their layers read back into the report, and overlays written for explore."""

from __future__ import annotations

import json

import pytest

from edgecomp.core.errors import ConfigError
from edgecomp.plan.plan import parse_plan


def _quantize(**settings):
    return parse_plan({"model": "cnn-tiny", "stages": [{"stage": "train"}, {"stage": "quantize", **settings}]})


def test_quantizer_settings_are_checked_when_the_plan_is_read():
    plan = _quantize(modes=["a8w8", "auto"], max_drop=0.3,
                     overrides=[{"layers": "block_1.*", "precision": "a16w8"}, {"ops": ["FULLY_CONNECTED"],
                                                                               "precision": "w4"}])
    assert [o.precision for o in plan.stages[1].overrides] == ["a16w8", "w4"]
    with pytest.raises(ConfigError, match="not both"):
        _quantize(modes=["a8w8"], overrides=[{"layers": "x", "ops": ["CONV_2D"], "precision": "a16w8"}])
    with pytest.raises(ConfigError, match="not a valid regex"):
        _quantize(modes=["a8w8"], overrides=[{"layers": "block_(1", "precision": "a16w8"}])
    with pytest.raises(ConfigError, match="precision"):
        _quantize(modes=["a8w8"], overrides=[{"layers": "x", "precision": "int3"}])
    with pytest.raises(ConfigError, match="overrides apply to the AI Edge Quantizer modes"):
        _quantize(modes=["int8"], overrides=[{"layers": "x", "precision": "a16w8"}])
    with pytest.raises(ConfigError, match="max_drop is auto's"):
        _quantize(modes=["a8w8"], max_drop=0.3)


@pytest.mark.slow
def test_a_build_exports_the_quantizer_recipes_with_their_layers_and_overlays(tmp_path):
    pytest.importorskip("ai_edge_quantizer")
    from typer.testing import CliRunner

    from edgecomp.cli.main import app
    from edgecomp.measure.precision import file_precision
    from edgecomp.plan.precisions import PRECISIONS

    plan = tmp_path / "plan.yaml"
    plan.write_text("""model: cnn-tiny
dataset: {name: fashion_mnist, train_limit: 2000, test_limit: 300}
stages:
  - {stage: train, epochs: 2}
  - stage: quantize
    modes: [a8w8, w4, auto]
    max_drop: 100
    overrides: [{ops: [FULLY_CONNECTED], precision: a16w8}]
export: {formats: [tflite], parity_samples: 200}
bench: {min_runs: 10, min_time_s: 0.1}
""")
    result = CliRunner().invoke(app, ["build", "--config", str(plan), "--out", str(tmp_path / "run"), "--no-cache"])
    assert result.exit_code in (0, 1), result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    files = {a["precision"]: a for a in report["artifacts"]}
    for precision in ("a8w8", "w4", "auto"):
        artifact = files[precision]
        assert artifact["size_bytes"] and artifact["parity"] is not None, artifact
        path = tmp_path / "run" / artifact["path"]
        if not artifact["quantizer"].get("overrides"):  # overrides make a mixed file: its layers say what it is
            assert file_precision(path) in PRECISIONS.get(precision).file_labels
        assert artifact["quantizer"]["left_float"] == []
        assert (tmp_path / "run" / "explore" / artifact["name"] / "weight_bits.json").is_file()
    # the override: every FULLY_CONNECTED of the a8w8 file computes on 16-bit activations, the convs on 8
    assert files["a8w8"]["quantizer"]["layers"] == {"int8 weights / int16 activations": 2,
                                                    "int8 weights / int8 activations": 2}
    assert files["w4"]["quantizer"]["layers"]["int4 weights / float32 activations"] == 2
    # auto with a budget it meets at once stops at its first step, all-int8
    auto = files["auto"]["quantizer"]["auto"]
    assert auto["met"] and len(auto["steps"]) == 1 and auto["steps"][0]["precision"] == "a8w8"
    snr = json.loads((tmp_path / "run" / "explore" / "model_a8w8.tflite" / "quantization_snr_db.json").read_text())
    assert all(0 < v["value"] <= 100 for v in snr["main"]["results"].values())
