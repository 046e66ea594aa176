"""report.html is one self-contained, escaped page."""

import re

from edgecomp.reporting.html import render_html, write_html

TINY_PNG = b"\x89PNG\r\n\x1a\nfake"


def test_self_contained_with_embedded_plots(build_report, tmp_path):
    path = write_html(build_report, tmp_path / "report.html")
    page = path.read_text()
    assert page.count('<img src="data:image/png;base64,') == 3
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page
    for section in ["Artifacts", "Plots", "Stages", "Target", "Environment", "Plan", "Parity with Keras"]:
        assert f"<h2>{section}</h2>" in page
    assert "tensorflow-model-optimization" in page and "AMD EPYC 7B13" in page
    assert "onnx_opset: 13" in page  # the plan as YAML
    assert not list(tmp_path.glob("*.partial"))


def test_strings_from_the_report_are_escaped(build_report):
    build_report["artifacts"][0]["name"] = "<script>alert(1)</script>.tflite"
    build_report["artifacts"][3]["error"] = 'bad "quote" & <b>tag</b>'
    page = render_html(build_report, plots={"plot": TINY_PNG})
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.tflite" in page
    assert "&lt;b&gt;tag&lt;/b&gt;" in page and "&amp;" in page


def test_bench_report_without_stages_or_keras(build_report):
    build_report.update(stages=[], keras={"accuracy": None, "params": None}, timing_floor_ms=None)
    page = render_html(build_report, plots={})
    assert "no stages" in page and "—" in page


def test_deployment_checks_show_sparsity_and_tflite_runtime_result(build_report):
    from edgecomp.reporting.html import render_html
    from edgecomp.reporting.markdown import render_markdown

    report = dict(build_report)
    report["artifacts"] = [dict(a) for a in build_report["artifacts"]]
    report["artifacts"][0]["sparsity"] = {"overall": 0.5}
    report["artifacts"][0]["tflite_runtime_2_14"] = {"ok": False, "error": "Didn't find op for builtin opcode "
                                                     "'FULLY_CONNECTED' version '12'"}
    for page in (render_html(report, plots={}), render_markdown(report)):
        assert "Deployment checks" in page
        assert "50.00%" in page
        assert "version &#x27;12&#x27;" in page or "version '12'" in page
