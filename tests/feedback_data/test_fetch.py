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


def test_download_from_the_package_index(tmp_path, tmp_cache, monkeypatch):
    """The sdist is taken from the index's simple API (PEP 691) and checked like any other."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    payload = _fake_sdist(tmp_path / "bigbench-1.0.0.tar.gz",
                          {f: b"from the index" for f in paths.BIGBENCH_TASK_FILES}).read_bytes()

    class Index(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            port = self.server.server_address[1]
            if self.path == "/simple/bigbench/":
                body = json.dumps({"files": [{
                    "filename": "bigbench-1.0.0.tar.gz", "size": len(payload),
                    "url": f"http://127.0.0.1:{port}/files/bigbench-1.0.0.tar.gz"}]}).encode()
            elif self.path == "/files/bigbench-1.0.0.tar.gz":
                body = payload
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_address[1]}/simple")
        monkeypatch.delenv("RHF_BIGBENCH_SDIST", raising=False)
        import hashlib

        out = fetch_bigbench(expected_sha256=hashlib.sha256(payload).hexdigest(),
                             log=lambda _m: None)
        assert (out / "strategyqa/task.json").read_bytes() == b"from the index"
        with pytest.raises(FetchError, match="sha256 mismatch"):
            fetch_bigbench(force=True, log=lambda _m: None)  # the pinned hash differs
        assert (out / "strategyqa/task.json").read_bytes() == b"from the index"
    finally:
        server.shutdown()


def test_the_sdist_is_kept_and_other_tasks_are_extracted_by_name(tmp_path, tmp_cache):
    import json as _json

    from feedback_data.jsonl import DataError
    from feedback_data.tasks.bigbench_sdist import bigbench_task_file, extract_bigbench_tasks

    task = _json.dumps({"examples": [{"input": "Is it?", "target_scores": {"Yes": 1, "No": 0}}]})
    files = {f: b"{}" for f in paths.BIGBENCH_TASK_FILES}
    files |= {"navigate/task.json": task.encode(), "split_up/task.json": b'{"name": "x"}',
              "split_up/one/task.json": task.encode()}
    sdist = _fake_sdist(tmp_path / "bigbench-1.0.0.tar.gz", files)
    fetch_bigbench(sdist=sdist, expected_sha256=sha256_file(sdist), log=lambda _m: None)
    assert paths.bigbench_sdist().read_bytes() == sdist.read_bytes()
    assert not (paths.bigbench_dir() / "navigate").exists()  # only on demand
    path = bigbench_task_file("navigate")
    assert path == paths.bigbench_dir() / "navigate/task.json"
    assert _json.loads(path.read_text()) == _json.loads(task)
    assert bigbench_task_file("split_up/one").is_file()
    with pytest.raises(DataError, match="no BIG-bench task 'nothing' in bigbench 1.0.0"):
        extract_bigbench_tasks(["nothing"])
    with pytest.raises(DataError, match="split into subtasks: name one, e.g. split_up/one"):
        extract_bigbench_tasks(["split_up"])
    with pytest.raises(DataError, match="not a BIG-bench task name"):
        extract_bigbench_tasks(["../etc"])


def test_a_cache_without_the_sdist_gets_it_or_warns(tmp_path, tmp_cache):
    files = {f: f.encode() for f in paths.BIGBENCH_TASK_FILES}
    sdist = _fake_sdist(tmp_path / "bigbench-1.0.0.tar.gz", files)
    fetch_bigbench(sdist=sdist, expected_sha256=sha256_file(sdist), log=lambda _m: None)
    paths.bigbench_sdist().unlink()  # a cache filled before the sdist was kept
    said: list[str] = []
    fetch_bigbench(sdist=tmp_path / "missing.tar.gz", log=said.append)
    assert said[0].startswith("warning: BIG-bench source distribution not found")
    assert (paths.bigbench_dir() / "strategyqa/task.json").read_bytes() == b"strategyqa/task.json"
    fetch_bigbench(sdist=sdist, expected_sha256=sha256_file(sdist), log=lambda _m: None)
    assert paths.bigbench_sdist().is_file()
