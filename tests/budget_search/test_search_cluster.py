"""`edgecomp search` on a 2-node local Ray cluster, and a search resumed after Ctrl-C (same tiny plan as
test_search_ray.py; a separate file so pytest-xdist's loadfile runs the two files on two workers)."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("ray")


def test_the_same_search_runs_on_a_two_node_local_ray_cluster(tmp_path, search):
    from ray.cluster_utils import Cluster

    # The head node reaches the device (the host target); the second node only trains.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"device:host": 1},
                                                            "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        result = search(tmp_path, "--trials", "2", "--workers", "2", "--max-size-kb", "500",
                        "--address", cluster.address)
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"connecting to the Ray cluster at {cluster.address}" in result.stderr
        assert "embedded Ray" not in result.stderr
        summary = json.loads((tmp_path / "exp" / "search.json").read_text())
        assert len(summary["trials"]) == 2 and summary["best"] is not None
        assert (tmp_path / "exp" / "best" / "report.json").is_file()
    finally:
        cluster.shutdown()


def test_an_interrupted_search_resumes_from_its_folder_keeping_finished_trials(tmp_path, search, search_command):
    args = ("--trials", "2", "--workers", "1", "--max-size-kb", "500")
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(search_command(tmp_path, *args), stdout=log, stderr=subprocess.STDOUT)
        reports = tmp_path / "exp" / "trials"
        deadline = time.monotonic() + 900
        while not list(reports.glob("*/report.json")) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
        finished = list(reports.glob("*/report.json"))
        assert len(finished) == 1, (tmp_path / "first.log").read_text()[-3000:]
        time.sleep(5)  # let Ray Tune record the result and start the second trial
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=300) == 130, (tmp_path / "first.log").read_text()[-3000:]
    assert "run the same command again to" in (tmp_path / "first.log").read_text()
    assert not (tmp_path / "exp" / "search.json").exists()
    kept = finished[0].parent.name
    written = finished[0].stat().st_mtime_ns

    second = search(tmp_path, *args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming the search in" in second.stderr
    assert f"trial {kept} started" not in second.stderr  # finished before Ctrl-C: not run again
    assert "started; 1 done, 1 running" in second.stderr  # the progress counts the trial kept
    assert finished[0].stat().st_mtime_ns == written
    rows = json.loads((tmp_path / "exp" / "search.json").read_text())["trials"]
    assert len(rows) == 2 and kept in {row["trial_id"] for row in rows}
