"""Task data from sources tried in order, each copy checked by the content of its examples:
a local folder, raw files over HTTP (a local server here), StrategyQA's own release; any
faithful copy gives the same examples in the same order; every failure is one clear text."""

from __future__ import annotations

import json
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from feedback_data.files import paths
from feedback_data.sources.fetch import FetchError, fetch_bigbench, fetch_task
from feedback_data.sources.task_sources import (
    ENV_BIGBENCH_URL,
    ENV_DIRS,
    ENV_STRATEGYQA_URL,
    canonical_example,
    example_digest,
    examples_digest,
    load_pins,
    strategyqa_as_bigbench,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
SPORTS = SHARED / "bigbench-sports_understanding"
STRATEGYQA = SHARED / "strategyqa-train"


@pytest.fixture()
def offline(tmp_path, monkeypatch):
    """An empty cache, no folder configured and no public source: each test adds its own.
    The workspace's shared copies are required (never a silent skip)."""
    if not (SPORTS / "task.json").is_file() or not STRATEGYQA.is_dir():
        pytest.fail(f"these tests read the shared task data: {SHARED} is missing")
    monkeypatch.setenv("RHF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(ENV_DIRS, "")
    monkeypatch.setenv(ENV_BIGBENCH_URL, "off")
    monkeypatch.setenv(ENV_STRATEGYQA_URL, "off")
    return tmp_path


@pytest.fixture()
def http_folder():
    """Serve a folder over HTTP on 127.0.0.1; yields (folder, base URL)."""
    servers = []

    def serve(folder: Path) -> str:
        handler = partial(_Quiet, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _release_records() -> list[dict]:
    return [r for part in ("part1.json", "part2.json")
            for r in json.loads((STRATEGYQA / part).read_text())]


def _bigbench_layout(root: Path, reorder: bool = False) -> Path:
    """A folder in BIG-bench's layout: sports copied (optionally reversed, re-keyed, with
    other whitespace) and StrategyQA converted from its release into BIG-bench's form."""
    (root / "sports_understanding").mkdir(parents=True)
    (root / "strategyqa").mkdir()
    sports = json.loads((SPORTS / "task.json").read_text())
    strategy = strategyqa_as_bigbench(_release_records(), "release")
    if reorder:
        sports["examples"] = [dict(reversed(list(e.items())))
                              for e in reversed(sports["examples"])]
        sports["examples"][0]["input"] = "  " + sports["examples"][0]["input"] + "\n"
        strategy["examples"] = strategy["examples"][::-1]
    (root / "sports_understanding/task.json").write_text(json.dumps(sports, indent=4))
    shutil.copy(SPORTS / "vocab.json", root / "sports_understanding/vocab.json")
    (root / "strategyqa/task.json").write_text(json.dumps(strategy))
    return root


# ---- pure: the content digest ---------------------------------------------------------------

def test_digest_ignores_order_keys_whitespace_and_exact_repeats():
    a = {"input": "Is it so?", "target_scores": {"Yes": 1, "No": 0}, "target": "Yes. It is."}
    b = {"input": "Is it not?", "target_scores": {"Yes": 0, "No": 1}}
    a_again = {"target": "Yes.  It is.", "target_scores": {"No": 0, "Yes": 1},
               "input": " Is it so?\n", "comment": "metadata is not content"}
    assert canonical_example(a_again) == {"input": "Is it so?", "target": ["Yes. It is."],
                                          "target_scores": {"No": 0, "Yes": 1}}
    assert examples_digest([a, b]) == examples_digest([b, a_again, a])
    changed = dict(b, target_scores={"Yes": 1, "No": 0})
    assert examples_digest([a, changed])[1] != examples_digest([a, b])[1]
    assert len(examples_digest([a, b, a_again])[0]) == 2


def test_strategyqa_release_record_becomes_the_bigbench_example():
    rec = {"qid": "x", "question": "Can a cat fly?", "answer": False,
           "facts": ["Cats have no wings. ", "Flying needs wings."]}
    assert strategyqa_as_bigbench([rec], "f")["examples"] == [{
        "input": "Can a cat fly?", "target_scores": {"Yes": 0, "No": 1},
        "target": "No. Cats have no wings.  Flying needs wings."}]


# ---- sources --------------------------------------------------------------------------------

def test_the_shared_folders_give_the_pinned_tasks_and_say_so(offline, monkeypatch):
    monkeypatch.setenv(ENV_DIRS, str(SHARED))
    info = fetch_bigbench(log=lambda _m: None)
    pins = load_pins()
    for name in ("strategyqa", "sports_understanding"):
        assert info[name]["digest"] == pins[name]["digest"]
        assert info[name]["source"] == f"folder {SHARED}"
        saved = json.loads((paths.bigbench_dir() / name / "SOURCE.json").read_text())
        assert saved == info[name]
    assert info["strategyqa"]["examples"] == 2289  # 2,290 records, one exact repeat
    assert info["sports_understanding"]["examples"] == 986


def test_any_faithful_copy_gives_the_same_examples_in_the_same_order(offline, monkeypatch):
    """BIG-bench's layout reordered and reformatted, and StrategyQA's own release, load to
    exactly the examples (and dev sets) of the straight copy."""
    from feedback_data.sources.bigbench import load_bigbench

    def loaded(folder: Path) -> dict[str, tuple]:
        monkeypatch.setenv("RHF_CACHE", str(folder / "cache"))
        fetch_bigbench(from_dirs=[folder], log=lambda _m: None)
        load_bigbench.cache_clear()
        return {t: load_bigbench(t) for t in ("strategyqa", "sports_understanding")}

    straight = loaded(_bigbench_layout(offline / "straight"))
    shuffled = loaded(_bigbench_layout(offline / "shuffled", reorder=True))
    monkeypatch.setenv(ENV_DIRS, "")
    release = loaded(SHARED)  # strategyqa-train/part*.json, StrategyQA's own form
    load_bigbench.cache_clear()
    assert straight == shuffled == release
    ids = [e.id for e in straight["strategyqa"]]
    assert ids == sorted(ids)


def test_raw_files_over_http(offline, monkeypatch, http_folder):
    root = _bigbench_layout(offline / "served")
    monkeypatch.setenv(ENV_BIGBENCH_URL, http_folder(root))
    info = fetch_bigbench(log=lambda _m: None)
    assert info["sports_understanding"]["source"].startswith("BIG-bench repository http://")
    assert info["sports_understanding"]["digest"] == load_pins()["sports_understanding"]["digest"]


def test_strategyqa_release_over_http(offline, monkeypatch, http_folder):
    served = offline / "release"
    served.mkdir()
    records = _release_records()
    (served / "train.json").write_text(json.dumps(records[:2000]))
    (served / "dev.json").write_text(json.dumps(records[2000:]))
    monkeypatch.setenv(ENV_STRATEGYQA_URL, http_folder(served))
    info = fetch_task("strategyqa", log=lambda _m: None)
    assert info["source"].startswith("StrategyQA release http://")
    assert info["digest"] == load_pins()["strategyqa"]["digest"]


def test_a_corrupted_copy_is_passed_over_for_the_next_source(offline, monkeypatch):
    bad = offline / "bad"
    (bad / "sports_understanding").mkdir(parents=True)
    (bad / "sports_understanding/task.json").write_text('{"examples": [')
    monkeypatch.setenv(ENV_DIRS, f"{bad}:{SHARED}")
    info = fetch_task("sports_understanding", log=lambda _m: None)
    assert info["source"] == f"folder {SHARED}"
    monkeypatch.setenv(ENV_DIRS, str(bad))
    with pytest.raises(FetchError) as err:
        fetch_task("sports_understanding", force=True, log=lambda _m: None)
    assert str(err.value).splitlines()[1] == (
        f"  folder {bad}: {bad}/sports_understanding/task.json: invalid JSON "
        "(Expecting value, line 1)")


def test_a_copy_with_one_example_changed_is_refused_naming_it(offline, monkeypatch):
    root = _bigbench_layout(offline / "changed")
    path = root / "sports_understanding/task.json"
    data = json.loads(path.read_text())
    data["examples"][5]["input"] = "Tom Brady hit a home run."
    path.write_text(json.dumps(data))
    monkeypatch.setenv(ENV_DIRS, str(root))
    with pytest.raises(FetchError) as err:
        fetch_task("sports_understanding", log=lambda _m: None)
    pin = load_pins()["sports_understanding"]
    digest = examples_digest(data["examples"])[1]
    assert str(err.value).splitlines()[1] == (
        f"  folder {root}: {path}: other examples than the pinned sports_understanding "
        f"(986 distinct, expected 986; digest {digest}, expected {pin['digest']}); first "
        "differing example: 'Tom Brady hit a home run.' is not in the pinned data")
    assert not (paths.bigbench_dir() / "sports_understanding").exists()  # nothing written
    assert example_digest(data["examples"][5]) not in pin["examples"]


def test_every_source_failing_is_one_line_each_and_exit_1(offline, monkeypatch):
    from typer.testing import CliRunner

    from rhf_cli import app

    empty = offline / "empty"
    empty.mkdir()
    monkeypatch.setenv(ENV_DIRS, f"{empty}:{offline / 'absent'}")
    monkeypatch.setenv(ENV_BIGBENCH_URL, "http://127.0.0.1:9/tasks")
    result = CliRunner().invoke(app, ["data", "fetch"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == "error: BIG-bench task 'strategyqa' was found in no source; tried, in order:"
    assert lines[1] == (f"  folder {empty}: no strategyqa/task.json, bigbench-strategyqa/"
                        "task.json, strategyqa_train.json, strategyqa-train/*.json")
    assert lines[2] == f"  folder {offline / 'absent'}: not a folder"
    assert lines[3].startswith("  BIG-bench repository: http://127.0.0.1:9/tasks/strategyqa/"
                               "task.json: ")
    assert lines[4] == ("Point RHF_DATA_DIR at a folder holding a copy (strategyqa/task.json, "
                        "BIG-bench's layout), or run `rhf data fetch --from PATH`.")
    assert len(lines) == 5 and "Traceback" not in result.output


def test_bigbench_tasks_by_name_from_the_shared_folder(offline, monkeypatch):
    from feedback_data.errors import DataError
    from feedback_data.tasks.loaders import bigbench_task_file

    monkeypatch.setenv(ENV_DIRS, str(SHARED / "bigbench-tasks"))
    path = bigbench_task_file("navigate")
    assert path == paths.bigbench_dir() / "navigate/task.json"
    assert len(json.loads(path.read_text())["examples"]) == 1000
    saved = json.loads((path.parent / "SOURCE.json").read_text())
    assert saved["source"] == f"folder {SHARED / 'bigbench-tasks'}"
    with pytest.raises(DataError) as err:
        bigbench_task_file("no_such_task")
    assert str(err.value).splitlines()[:2] == [
        "BIG-bench task 'no_such_task' was found in no source; tried, in order:",
        f"  folder {SHARED / 'bigbench-tasks'}: no no_such_task/task.json, "
        "bigbench-no_such_task/task.json"]
    with pytest.raises(DataError, match=r"^'\.\./etc' is not a BIG-bench task name"):
        bigbench_task_file("../etc")
