"""Fetching: pinned sha256, only the task files extracted, the cache untouched on failure."""

import io
import tarfile

import pytest

from feedback_data import paths
from feedback_data.fetch import FetchError, fetch_bigbench, fetch_feedback, sha256_file

PREFIX = "bigbench-1.0.0/bigbench/benchmark_tasks/"


def _fake_sdist(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(PREFIX + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture()
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RHF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_extracts_only_the_task_files(tmp_path, tmp_cache):
    files = {f: f.encode() for f in paths.BIGBENCH_TASK_FILES}
    files["other_task/task.json"] = b"{}"
    sdist = _fake_sdist(tmp_path / "bigbench-1.0.0.tar.gz", files)
    out = fetch_bigbench(sdist=sdist, expected_sha256=sha256_file(sdist), log=lambda _m: None)
    found = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert found == sorted(paths.BIGBENCH_TASK_FILES)
    assert (out / "strategyqa/task.json").read_bytes() == b"strategyqa/task.json"


def test_sha256_mismatch_leaves_cache_as_it_was(tmp_path, tmp_cache):
    files = {f: b"old" for f in paths.BIGBENCH_TASK_FILES}
    good = _fake_sdist(tmp_path / "good.tar.gz", files)
    fetch_bigbench(sdist=good, expected_sha256=sha256_file(good), log=lambda _m: None)
    before = {p: p.read_bytes() for p in tmp_cache.rglob("*") if p.is_file()}
    bad = _fake_sdist(tmp_path / "bad.tar.gz", {f: b"new" for f in paths.BIGBENCH_TASK_FILES})
    with pytest.raises(FetchError, match="sha256 mismatch.*cache was not changed"):
        fetch_bigbench(sdist=bad, expected_sha256=sha256_file(good), force=True,
                       log=lambda _m: None)
    after = {p: p.read_bytes() for p in tmp_cache.rglob("*") if p.is_file()}
    assert after == before


def test_pinned_hash_is_checked_by_default(tmp_path, tmp_cache):
    sdist = _fake_sdist(tmp_path / "x.tar.gz", {f: b"x" for f in paths.BIGBENCH_TASK_FILES})
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch_bigbench(sdist=sdist, log=lambda _m: None)
    assert not paths.bigbench_dir().exists()


def test_missing_feedback_source_says_what_was_looked_for(tmp_path, tmp_cache):
    with pytest.raises(FetchError, match=r"RHF_FEEDBACK_SOURCE=.*nowhere.*strategyqa/train\.jsonl"):
        fetch_feedback(str(tmp_path / "nowhere"), log=lambda _m: None)
    assert not paths.feedback_raw_dir().exists()


def test_local_feedback_source_is_copied_byte_for_byte(raw_feedback_dir, tmp_cache):
    out = fetch_feedback(str(raw_feedback_dir), log=lambda _m: None)
    for rel in paths.FEEDBACK_FILES:
        assert (out / rel).read_bytes() == (raw_feedback_dir / rel).read_bytes()
