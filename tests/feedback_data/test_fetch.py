"""Fetching the paper's feedback: a local folder copied byte for byte, the cache untouched on
failure. (BIG-bench's task data: tests/feedback_data/test_task_sources.py.)"""

import pytest

from feedback_data.files import paths
from feedback_data.sources.fetch import FetchError, fetch_feedback


@pytest.fixture()
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RHF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_missing_feedback_source_says_what_was_looked_for(tmp_path, tmp_cache):
    with pytest.raises(FetchError, match=r"RHF_FEEDBACK_SOURCE=.*nowhere.*strategyqa/train\.jsonl"):
        fetch_feedback(str(tmp_path / "nowhere"), log=lambda _m: None)
    assert not paths.feedback_raw_dir().exists()


def test_local_feedback_source_is_copied_byte_for_byte(raw_feedback_dir, tmp_cache):
    out = fetch_feedback(str(raw_feedback_dir), log=lambda _m: None)
    for rel in paths.FEEDBACK_FILES:
        assert (out / rel).read_bytes() == (raw_feedback_dir / rel).read_bytes()
