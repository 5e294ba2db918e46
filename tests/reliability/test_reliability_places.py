"""Errors that name their place (issue 29, item 6): bytes that are not UTF-8 name the file and
the byte offset; a task name with a control character is one line, checked first.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from feedback_data.files.io import NotUtf8, read_utf8
from feedback_data.tasks.spec import SpecError, load_spec_file, parse_spec
from inference.backends import ModelLoadError, checkpoint_info
from rhf_cli import app

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def test_read_utf8_names_the_file_the_byte_and_its_offset(tmp_path):
    path = tmp_path / "notes.yaml"
    path.write_bytes(b"name: ok\n" + PNG)
    with pytest.raises(NotUtf8) as err:
        read_utf8(path)
    assert str(err.value) == f"{path}: not UTF-8 text (byte 0x89 at offset 9)"


def test_a_non_utf8_checkpoint_config_names_the_file(tmp_path):
    ckpt = tmp_path / "final"
    ckpt.mkdir()
    (ckpt / "config.yaml").write_bytes(PNG)
    with pytest.raises(ModelLoadError) as err:
        checkpoint_info(str(ckpt))
    assert str(err.value) == f"{ckpt / 'config.yaml'}: not UTF-8 text (byte 0x89 at offset 0)"


def test_serve_with_a_non_utf8_checkpoint_config_is_one_line(tmp_path, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    monkeypatch.setenv("RHF_API_TOKEN", "t")
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "config.yaml").write_bytes(b"data:\n  x: 1\n" + PNG)
    result = runner.invoke(app, ["serve", "--model", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == (f"error: {tmp_path / 'final' / 'config.yaml'}: not UTF-8 "
                                     f"text (byte 0x89 at offset 13)")


def test_a_non_utf8_training_config_names_the_file(tmp_path):
    from training.run.config import ConfigError
    from training.run.config_load import load_config

    path = tmp_path / "recipe.yaml"
    path.write_bytes(b"train:\n  lr: 1.0e-4\n# caf\xe9\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, objective="refine")
    assert str(err.value) == f"{path}: not UTF-8 text (byte 0xe9 at offset 25)"


def test_a_non_utf8_task_file_names_the_file(tmp_path):
    path = tmp_path / "task.yaml"
    path.write_bytes(b"name: t\x80\n")
    with pytest.raises(SpecError) as err:
        load_spec_file(path)
    assert str(err.value) == f"{path}: not UTF-8 text (byte 0x80 at offset 7)"


@pytest.mark.parametrize("name, shown, char, at", [
    ("evil\nname", "'evil\\nname'", "'\\n'", 4),
    ("ok\n", "'ok\\n'", "'\\n'", 2),
    ("tab\there", "'tab\\there'", "'\\t'", 3),
    ("bell\x07", "'bell\\x07'", "'\\x07'", 4),
])
def test_a_task_name_with_a_control_character_is_one_line(tmp_path, name, shown, char, at):
    with pytest.raises(SpecError) as err:
        parse_spec({"name": name, "loader": {"jsonl": "q.jsonl"}}, tmp_path / "t.yaml")
    message = str(err.value)
    assert message == (f"{tmp_path / 't.yaml'}: field 'name': {shown} holds a control "
                       f"character ({char} at position {at}); a task name is lower case "
                       f"letters, digits, '_' or '-'")
    assert "\n" not in message


def test_a_non_utf8_checkpoint_state_names_the_file(tmp_path):
    from training.run.checkpoint import CheckpointError, read_state

    ckpt = tmp_path / "step-2"
    ckpt.mkdir()
    (ckpt / "trainer_state.json").write_bytes(b'{"step": 2}' + PNG)
    with pytest.raises(CheckpointError) as err:
        read_state(ckpt)
    assert str(err.value) == (
        f"checkpoint {ckpt} is corrupt or incomplete (NotUtf8: {ckpt / 'trainer_state.json'}: "
        f"not UTF-8 text (byte 0x89 at offset 11)); delete it to resume from the one before it")
