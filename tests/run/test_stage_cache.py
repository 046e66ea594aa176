"""The stage cache's keys, its atomic entries (two real processes racing on one key) and `edgecomp cache list|clear`."""

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgecomp.cli.main import app
from edgecomp.core import cache_store
from edgecomp.core.errors import UsageError
from edgecomp.plan.plan import parse_plan
from edgecomp.run import stage_cache

STAGES = [{"stage": "train", "epochs": 1}, {"stage": "distill", "method": "kd", "student": "cnn-tiny", "epochs": 1},
          {"stage": "prune", "method": "global", "sparsity": 0.5, "epochs": 1}]


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    """An empty cache of its own, so counts and sizes are this test's."""
    monkeypatch.setenv("EDGECOMP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _plan(**changes):
    return parse_plan({"model": "cnn-student", "stages": STAGES, **changes})


def test_a_changed_stage_changes_its_key_and_every_later_one_only(fmnist_small):
    base = stage_cache.chain_keys(_plan(), fmnist_small)
    stages = json.loads(json.dumps(STAGES))
    stages[1]["epochs"] = 2
    changed = stage_cache.chain_keys(_plan(stages=stages), fmnist_small)
    assert changed[0] == base[0] and changed[1] != base[1] and changed[2] != base[2]
    assert len(set(base)) == 3  # a key per position, even for equal settings


@pytest.mark.parametrize("change", ["seed", "model", "data", "version", "source"])
def test_every_input_of_the_first_key_changes_the_whole_chain(change, fmnist_small, monkeypatch):
    base = stage_cache.chain_keys(_plan(), fmnist_small)
    plan, data = _plan(), fmnist_small
    if change == "seed":
        plan = _plan(seed=1)
    elif change == "model":
        plan = _plan(model="cnn-teacher")
    elif change == "data":  # the same description (name, counts), one pixel different
        train = fmnist_small.pixels("train").copy()
        train[0, 0, 0, 0] ^= 1
        data = fmnist_small.with_train(train, fmnist_small.labels("train"))
        assert data.describe() == fmnist_small.describe()
    elif change == "version":
        real = stage_cache.package_versions()
        monkeypatch.setattr(stage_cache, "package_versions", lambda: {**real, "tensorflow": "2.99.0"})
    else:  # edgecomp's own code changed (a loss, a zoo model) while its version string did not
        monkeypatch.setattr(stage_cache, "edgecomp_source_digest", lambda: "another source")
    keys = stage_cache.chain_keys(plan, data)
    assert all(new != old for new, old in zip(keys, base))


def test_the_source_digest_covers_stage_code_but_not_reports_or_the_command_line(tmp_path):
    outside = ("reporting/tables.py", "cli/main.py", "api/build.py", "measure/runner.py", "budget_search/trial.py")
    for name in ("compress/kd.py", *outside):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    base = stage_cache.source_digest(tmp_path)
    for name in outside:
        (tmp_path / name).write_text("x = 2\n")
    assert stage_cache.source_digest(tmp_path) == base
    (tmp_path / "compress" / "kd.py").write_text("x = 2\n")
    assert stage_cache.source_digest(tmp_path) != base


def test_a_model_file_is_keyed_by_its_bytes(tmp_path):
    first, second = tmp_path / "a" / "model.keras", tmp_path / "b" / "model.keras"
    for path, body in ((first, b"one"), (second, b"two")):
        path.parent.mkdir()
        path.write_bytes(body)
    assert stage_cache.model_source_fingerprint(str(first)) != stage_cache.model_source_fingerprint(str(second))
    second.write_bytes(b"one")  # same bytes, other place: the same model
    assert stage_cache.model_source_fingerprint(str(first)) == stage_cache.model_source_fingerprint(str(second))


def test_a_model_files_train_key_depends_on_how_later_stages_need_it_loaded(tmp_path, fmnist_small):
    """A model file is flattened (nested sub-models inlined) only for prune/qat/distill, and kept in Keras 3
    only for a PTQ-only plan: the same file and train settings under another plan is another model."""
    model = tmp_path / "model.keras"
    model.write_bytes(b"the same bytes")

    def train_key(*later):
        plan = parse_plan({"model": str(model), "stages": [{"stage": "train", "epochs": 0}, *later]})
        return stage_cache.chain_keys(plan, fmnist_small)[0]

    ptq_only = train_key({"stage": "quantize"})
    assert train_key({"stage": "prune"}) != ptq_only
    assert train_key({"stage": "prune"}) == train_key({"stage": "qat"})  # both need the flat tf-keras graph
    assert train_key() == ptq_only  # train alone reads the file as a PTQ-only plan does


def test_cache_key_ignores_the_cache_switch(fmnist_small):
    stages = json.loads(json.dumps(STAGES))
    stages[0]["cache"] = False
    assert stage_cache.chain_keys(_plan(stages=stages), fmnist_small) == stage_cache.chain_keys(_plan(), fmnist_small)


def test_an_interrupted_write_leaves_no_entry(cache_dir):
    def half_written(folder: Path):
        (folder / "model.keras").write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache_store.publish("k" * 32, half_written)
    assert cache_store.read_entry("k" * 32) is None
    assert list((cache_dir / "stages").iterdir()) == []  # the partial folder is gone too


# A writer fills its copy slowly (so the two copies overlap in time), then publishes it.
_WRITER = r"""
import json, sys, time
from pathlib import Path
from edgecomp.core.cache_store import publish
name, start = sys.argv[1], float(sys.argv[2])
while time.time() < start:
    time.sleep(0.005)
wrote = []
def write(folder):
    wrote.append(True)
    for part in range(20):
        (folder / f"part{part}.txt").write_text(name * 1000)
        time.sleep(0.01)
    (folder / "entry.json").write_text(json.dumps({"stage": "train", "writer": name}))
published = publish(sys.argv[3], write)
print(json.dumps({"published": published, "wrote": bool(wrote)}))
"""

# A reader polls the key while they write: any entry it sees must be whole and one writer's.
_READER = r"""
import json, sys, time
from pathlib import Path
from edgecomp.core.cache_store import entry_dir
folder, deadline, seen = entry_dir(sys.argv[1]), time.time() + float(sys.argv[2]), 0
while time.time() < deadline:
    try:
        names = sorted(p.name for p in folder.iterdir())
        writer = json.loads((folder / "entry.json").read_text())["writer"]
        texts = {(folder / f"part{i}.txt").read_text() for i in range(20)}
    except (FileNotFoundError, NotADirectoryError):
        time.sleep(0.002)
        continue
    assert len(names) == 21 and texts == {writer * 1000}, (names, writer, len(texts))
    seen += 1
print(json.dumps({"seen": seen}))
"""


def test_two_processes_writing_one_key_leave_one_whole_entry(cache_dir):
    key, start = "r" * 32, time.time() + 3.0  # both start together, after their imports
    env = {**os.environ, "EDGECOMP_CACHE_DIR": str(cache_dir)}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, name, str(start), key], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in "ab"]
    reader = subprocess.Popen([sys.executable, "-c", _READER, key, "6"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    results = []
    for proc in procs + [reader]:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r["published"] for r in results[:2]) == [False, True]  # one winner, one discarded copy
    assert all(r["wrote"] for r in results[:2])  # both wrote a whole copy: the loser lost at the rename
    assert results[2]["seen"] > 0  # the reader did see the entry, and every look at it was whole
    winner = "ab"[[r["published"] for r in results[:2]].index(True)]
    assert cache_store.read_entry(key)["writer"] == winner
    assert [p.name for p in (cache_dir / "stages").iterdir()] == [key]  # the loser's copy is gone


def _entry(key: str, stage: str, age: timedelta, size: int, models: dict | None = None) -> None:
    def write(folder: Path):
        (folder / "model.keras").write_bytes(b"x" * size)
        created = (datetime.now(timezone.utc) - age).isoformat(timespec="seconds")
        (folder / "entry.json").write_text(json.dumps({"stage": stage, "model": "cnn-student", "created": created,
                                                       "models": models or {"model": [key, "model.keras"]}}))

    assert cache_store.publish(key, write)


def test_cache_list_shows_entries_and_the_total(cache_dir):
    _entry("a" * 32, "train", timedelta(days=10), 5000)
    _entry("b" * 32, "distill", timedelta(hours=1), 2000)
    result = CliRunner().invoke(app, ["cache", "list"])
    assert result.exit_code == 0, result.output
    assert "aaaaaaaaaaaa" in result.output and "train" in result.output and "distill" in result.output
    total = sum(cache_store.folder_size(p) for p in (cache_dir / "stages").iterdir())
    assert f"2 entries, {cache_store.human_size(total)} in total" in result.output


def test_cache_clear_by_stage_and_age_says_what_it_freed(cache_dir):
    _entry("a" * 32, "train", timedelta(days=10), 5000)
    _entry("b" * 32, "train", timedelta(hours=1), 3000)
    _entry("c" * 32, "distill", timedelta(days=10), 2000)
    size_of_a = cache_store.folder_size(cache_store.entry_dir("a" * 32))
    result = CliRunner().invoke(app, ["cache", "clear", "--stage", "train", "--older-than", "7d"])
    assert result.exit_code == 0, result.output
    assert f"removed 1 entry, {cache_store.human_size(size_of_a)} freed" in result.output
    assert [e.key[0] for e in cache_store.list_entries()] == ["c", "b"]
    result = CliRunner().invoke(app, ["cache", "clear"])
    assert "removed 2 entries" in result.output and cache_store.list_entries() == []


def test_clearing_an_entry_clears_the_entries_that_need_its_model(cache_dir):
    _entry("a" * 32, "train", timedelta(days=1), 5000)
    train, distill = ["a" * 32, "model.keras"], ["b" * 32, "model.keras"]
    _entry("b" * 32, "distill", timedelta(days=1), 2000, {"model": distill, "original_model": train})
    _entry("c" * 32, "quantize", timedelta(days=1), 10, {"model": distill, "original_model": train})
    _entry("d" * 32, "distill", timedelta(days=1), 10)  # needs nothing
    result = CliRunner().invoke(app, ["cache", "clear", "--stage", "train"])
    assert "removed 3 entries" in result.output
    assert [e.key[0] for e in cache_store.list_entries()] == ["d"]


def test_cache_clear_leaves_a_fresh_unfinished_write_alone(cache_dir):
    partial = cache_dir / "stages" / ".partial-somekey-x"
    partial.mkdir(parents=True)
    CliRunner().invoke(app, ["cache", "clear"])
    assert partial.is_dir()  # may belong to a build running now
    old = time.time() - 2 * 3600
    os.utime(partial, (old, old))
    CliRunner().invoke(app, ["cache", "clear"])
    assert not partial.exists()


def test_cache_clear_rejects_a_misspelt_stage(cache_dir):
    result = CliRunner().invoke(app, ["cache", "clear", "--stage", "distil"])
    assert result.exit_code == 2 and "Did you mean 'distill'" in result.output


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800),
                                           ("2w", 1209600), ("1.5h", 5400)])
def test_parse_age(text, seconds):
    assert cache_store.parse_age(text) == seconds


@pytest.mark.parametrize("text", ["7", "7x", "", "d7", "-1d"])
def test_parse_age_rejects_other_text(text):
    with pytest.raises(UsageError, match="30m, 12h, 7d"):
        cache_store.parse_age(text)


def test_an_unwritable_cache_costs_the_reuse_not_the_run(fmnist_small, tmp_path, monkeypatch, capsys):
    """A full or read-only cache folder: the array is still computed and returned, the run goes on."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("EDGECOMP_CACHE_DIR", str(blocker))
    import numpy as np

    array, key, hit = cache_store.cached_array({"what": "test"}, lambda: np.arange(3), "distill", "cnn-tiny")
    assert array.tolist() == [0, 1, 2] and key is None and not hit
    assert "stage cache not written" in capsys.readouterr().err
