"""A folder writer replaces only a folder it made: a user's folder in the way is refused in
one line, before any work, and left exactly as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feedback_data.files.io import NotOurs, atomic_folder
from feedback_data.records.hf_dataset import is_saved_dataset

REFUSED = ("is in the way and was not written by this command: it was left as it is; choose "
           "another output or remove it yourself")


def _user_folder(path: Path) -> Path:
    path.mkdir()
    (path / "notes.md").write_text("my notes\n")
    return path


def test_a_users_folder_is_refused_and_kept(tmp_path):
    out = _user_folder(tmp_path / "out")
    with pytest.raises(NotOurs) as exc:
        with atomic_folder(out, ours=is_saved_dataset) as staged:
            staged.mkdir()
            (staged / "data.txt").write_text("new\n")
    assert str(exc.value) == f"{out} {REFUSED}"
    assert sorted(p.name for p in out.iterdir()) == ["notes.md"]
    assert (out / "notes.md").read_text() == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing staged is left


def test_a_file_in_the_way_is_refused_too(tmp_path):
    out = tmp_path / "out"
    out.write_text("a file\n")
    with pytest.raises(NotOurs):
        with atomic_folder(out):
            pass
    assert out.read_text() == "a file\n"


def test_an_empty_folder_or_one_it_made_is_replaced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with atomic_folder(out) as staged:  # empty: replaced
        staged.mkdir()
        (staged / "state.json").write_text("{}")
    assert is_saved_dataset(out)
    (out / "old.arrow").write_text("old")
    with atomic_folder(out, ours=is_saved_dataset) as staged:  # made by this writer: replaced
        staged.mkdir()
        (staged / "dataset_info.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["dataset_info.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_training_export_never_replaces_a_users_folder(tmp_path):
    from feedback_data.exports.trl import write_rows

    out = _user_folder(tmp_path / "sft")
    with pytest.raises(NotOurs, match="in the way"):
        write_rows([{"prompt": "q", "completion": "a"}], out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.md"]
    assert write_rows([{"prompt": "q", "completion": "a"}], tmp_path / "ds") == "hf"
    assert write_rows([{"prompt": "q2", "completion": "b"}], tmp_path / "ds") == "hf"  # ours


def test_merge_refuses_a_users_folder_before_loading_anything(tmp_path):
    from training.model.modeling import merge_adapter

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    # a base that does not exist: reaching the load would fail differently
    (adapter / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": str(tmp_path / "no-such-base")}))
    out = _user_folder(tmp_path / "merged")
    with pytest.raises(NotOurs, match="in the way"):
        merge_adapter(adapter, out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.md"]


def test_rhf_train_merge_says_so_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from rhf_cli import app

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": str(tmp_path / "no-such-base")}))
    out = _user_folder(tmp_path / "merged")
    result = CliRunner().invoke(app, ["train", "merge", str(adapter), str(out)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"error: {out} {REFUSED}"]
    assert sorted(p.name for p in out.iterdir()) == ["notes.md"]
