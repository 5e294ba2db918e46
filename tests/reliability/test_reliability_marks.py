"""The run folder is the user's: a command deletes only what it wrote. Folders are marked
(``.rhf-run``: kind, command, commit, what the command owns); clearing one without the mark,
of another kind, or holding files the command did not write is refused in one line with
nothing deleted; writing into an unmarked folder over a file of the same name is refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rhf_cli import app
from tests.reliability.conftest import snapshot
from training.recipe.objectives import train
from training.run import checkpoint as ckpt_errors

MARK_NAME = ".rhf-run"

runner = CliRunner()


def _demo_folder(root: Path) -> Path:
    """A folder as a finished demo leaves it (stand-in files), marked as the demo's."""
    from feedback_data.files import run_mark
    from pipeline.demo import KIND, OWNS, prepare_stage_run
    from training.run.run_folder import OWNS as TRAIN_OWNS

    out = root / "demo"
    run_mark.claim(out, KIND, OWNS, commit="abc")
    (out / "stages").mkdir(parents=True)
    (out / "stages" / "data.json").write_text("{}")
    (out / "report.json").write_text("{}")
    run = out / "train" / "multitask"
    prepare_stage_run(run, "key-1")
    run_mark.claim(run, "rhf train", TRAIN_OWNS)  # as the training run it holds marks it
    (run / "config.yaml").write_text("x: 1\n")
    return out


def _fresh(out: Path):
    return runner.invoke(app, ["demo", "--quick", "--fresh", "--out", str(out)])


def test_demo_fresh_refuses_a_folder_without_its_mark(tmp_path):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "notes.md").write_text("my notes")
    before = snapshot(out)
    result = _fresh(out)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: refusing to clear {out}: it has no {MARK_NAME} mark, so rhf demo did not "
        f"make it; choose another output folder, or empty it yourself (nothing was deleted)")
    assert snapshot(out) == before


def test_demo_fresh_refuses_a_demo_folder_holding_the_users_files(tmp_path):
    out = _demo_folder(tmp_path)
    (out / "notes.md").write_text("my notes")
    (out / "train" / "multitask" / "todo.txt").write_text("mine too")
    before = snapshot(out)
    result = _fresh(out)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: refusing to clear {out}: it holds files rhf demo did not write (notes.md, "
        f"train/multitask/todo.txt); move them out first (nothing was deleted)")
    assert snapshot(out) == before


def test_demo_fresh_refuses_another_commands_folder(tmp_path, finished_run):
    before = snapshot(finished_run)
    result = _fresh(finished_run)
    assert result.exit_code == 1
    assert result.output.strip() == (f"error: refusing to clear {finished_run}: rhf train made "
                                     f"it, not rhf demo (nothing was deleted)")
    assert snapshot(finished_run) == before


def test_clearing_a_demo_folder_deletes_only_what_it_wrote(tmp_path):
    from feedback_data.files import run_mark
    from pipeline.demo import KIND

    out = _demo_folder(tmp_path)
    (tmp_path / "beside.txt").write_text("untouched")
    gone = run_mark.clear(out, KIND)
    assert sorted(gone) == ["report.json", "stages", "train"]
    assert sorted(p.name for p in out.iterdir()) == [MARK_NAME]  # the mark stays
    assert (tmp_path / "beside.txt").read_text() == "untouched"


def test_a_training_stage_with_new_inputs_clears_only_its_own_run(tmp_path):
    from feedback_data.files.run_mark import NotOurFolder
    from pipeline.demo import prepare_stage_run

    out = _demo_folder(tmp_path)
    run = out / "train" / "multitask"
    assert prepare_stage_run(run, "key-1") is True  # same inputs: resume, nothing deleted
    assert (run / "config.yaml").exists()
    (run / "notes.md").write_text("mine")
    before = snapshot(run)
    with pytest.raises(NotOurFolder) as info:
        prepare_stage_run(run, "key-2")
    assert str(info.value) == (f"refusing to clear {run}: it holds files rhf train did not "
                               f"write (notes.md); move them out first (nothing was deleted)")
    assert snapshot(run) == before
    (run / "notes.md").unlink()
    assert prepare_stage_run(run, "key-2") is False
    assert sorted(p.name for p in run.iterdir()) == [MARK_NAME, "stage_key.txt"]
    assert (run / "stage_key.txt").read_text() == "key-2\n"


def test_a_training_stage_will_not_clear_a_folder_it_did_not_make(tmp_path):
    from feedback_data.files.run_mark import NotOurFolder
    from pipeline.demo import prepare_stage_run

    run = tmp_path / "train" / "multitask"
    run.mkdir(parents=True)
    (run / "weights.bin").write_text("someone's")
    with pytest.raises(NotOurFolder, match=rf"^refusing to clear {re.escape(str(run))}: it "
                                           rf"has no {MARK_NAME} mark"):
        prepare_stage_run(run, "key-1")
    assert (run / "weights.bin").read_text() == "someone's"


def test_a_finished_training_run_is_marked_with_its_command_and_commit(finished_run):
    from feedback_data.files import run_mark

    mark = json.loads((finished_run / MARK_NAME).read_text())
    assert mark["kind"] == "rhf train" and mark["command"] and "commit" in mark
    assert {"config.yaml", "run.json", "metrics.jsonl", "checkpoints", "final"} <= set(
        mark["owns"])
    assert run_mark.foreign_entries(finished_run) == []


def test_rhf_train_will_not_overwrite_the_users_config(cfg_for, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.yaml").write_text("my: config\n")
    before = snapshot(out)
    with pytest.raises(ckpt_errors.RunDirError) as info:
        train(cfg_for(out))
    assert str(info.value) == (f"{out} holds config.yaml but no {MARK_NAME} mark: rhf train "
                               f"did not write it and will not overwrite it; choose another "
                               f"output folder (nothing was written)")
    assert snapshot(out) == before


@pytest.mark.parametrize("argv", [
    ["eval", "--model", "models/tiny-base", "--base-model", "models/tiny-base",
     "--methods", "cot", "--out", "{out}"],
    ["demo", "--quick", "--out", "{out}"],
], ids=["eval", "demo"])
def test_eval_and_demo_will_not_overwrite_the_users_report(tmp_path, argv):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "report.md").write_text("my report")
    before = snapshot(out)
    result = runner.invoke(app, [a.replace("{out}", str(out)) for a in argv])
    assert result.exit_code == 1
    assert re.fullmatch(rf"error: {re.escape(str(out))} holds report\.md but no "
                        rf"{re.escape(MARK_NAME)} mark: rhf (eval|demo) did not write it and "
                        r"will not overwrite it; choose another output folder \(nothing was "
                        r"written\)", result.output.strip()), result.output
    assert snapshot(out) == before


def test_a_claim_ahead_is_taken_over_once_by_the_command_it_was_made_for(tmp_path):
    """A launcher (the demo) claims a folder for the training run it starts next; the run
    takes the claim over instead of claiming again: one history entry, and a later run in
    the same folder claims as usual."""
    from feedback_data.files import run_mark

    run_mark.claim(tmp_path, "rhf train", ["final", "stage_key.txt"], commit="c1", ahead=True)
    assert run_mark.read_mark(tmp_path)["claimed_ahead"] == "rhf train"
    assert not run_mark.take_over(tmp_path, "rhf eval")  # made for another kind: no
    assert run_mark.take_over(tmp_path, "rhf train")
    mark = run_mark.read_mark(tmp_path)
    assert "claimed_ahead" not in mark and len(mark["history"]) == 1
    assert mark["owns"] == ["final", "stage_key.txt"]
    assert not run_mark.take_over(tmp_path, "rhf train")  # once only
    assert not run_mark.take_over(tmp_path / "elsewhere", "rhf train")  # no mark at all
