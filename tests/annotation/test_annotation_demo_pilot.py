"""`rhf demo --with-annotation`'s pilot stage against a real Label Studio: chains pushed, the
simulated annotator labels them, the pulled records are source=simulated and reusable."""

import json

import pytest

from annotation.tasks import paper_chains
from feedback_data.records.jsonl import read_records, write_records
from feedback_data.records.schema import FeedbackItem

pytestmark = pytest.mark.usefixtures("real_data")  # the real datasets (tests/conftest.py)


def test_demo_pilot_round_trip(tmp_path):
    from pipeline.pilot import run_pilot

    chains, _ = paper_chains("sports_understanding", "train", limit=2)
    chain_file = tmp_path / "chains.jsonl"
    write_records(chain_file, chains)
    result = run_pilot([str(chain_file)], tmp_path / "annotation")
    items = read_records(result["feedback_file"], FeedbackItem)
    assert result["records"] == len(items) == 2
    assert {i.chain.id for i in items} == {c.id for c in chains}
    assert {i.feedback.source for i in items} == {"simulated"}
    creds = (tmp_path / "annotation/label-studio-data/credentials").read_text()
    assert "LABEL_STUDIO_API_KEY=" in creds
    assert json.loads(items[0].model_dump_json())["feedback"]["annotator"]
