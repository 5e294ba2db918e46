import pytest
from datasets import load_from_disk

from feedback_data.records.hf_dataset import FEATURES, from_dataset, load_items, save_items
from feedback_data.sources.paper_import import PAPER_SPLITS, load_paper_feedback

pytestmark = pytest.mark.usefixtures("real_data")  # the real datasets (tests/conftest.py)


def test_hf_round_trip_is_lossless_on_full_data(tmp_path):
    for task, split in PAPER_SPLITS:
        items = load_paper_feedback(task, split)
        folder = tmp_path / f"{task}-{split}"
        save_items(items, folder)
        ds = load_from_disk(str(folder))
        assert ds.features == FEATURES
        assert len(ds) == len(items)
        assert load_items(folder) == items
        assert from_dataset(ds)[0].feedback.raw == items[0].feedback.raw
