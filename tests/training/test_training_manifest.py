"""manifest.json: every file's sha256, written last; a missing, changed or unlisted-manifest
folder is one CheckpointError line naming the folder and the file."""

from __future__ import annotations

import hashlib
import json

import pytest

from training.run.checkpoint import (
    MANIFEST_FILE,
    CheckpointError,
    verify_checkpoint,
    write_manifest,
)


def _folder(tmp_path):
    folder = tmp_path / "step-3"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"abc")
    (folder / "sub" / "b.txt").write_text("hello")
    (folder / ".half.tmp").write_text("an interrupted write")  # never listed
    return folder


def test_the_manifest_lists_each_file_with_its_sha256(tmp_path):
    folder = _folder(tmp_path)
    write_manifest(folder)
    files = json.loads((folder / MANIFEST_FILE).read_text())["files"]
    assert files == {"a.bin": hashlib.sha256(b"abc").hexdigest(),
                     "sub/b.txt": hashlib.sha256(b"hello").hexdigest()}
    assert verify_checkpoint(folder) == 2


def test_a_changed_or_missing_file_is_named(tmp_path):
    folder = _folder(tmp_path)
    write_manifest(folder)
    (folder / "sub" / "b.txt").write_text("hellO")
    with pytest.raises(CheckpointError, match=r"^checkpoint .*step-3: sub/b.txt does not match "
                                              r"the sha256 .*delete it to resume"):
        verify_checkpoint(folder)
    (folder / "a.bin").unlink()
    with pytest.raises(CheckpointError, match=r"^folder .*step-3 is missing a.bin$"):
        verify_checkpoint(folder, what="folder", hint="")


def test_no_manifest_or_an_unreadable_one_is_refused(tmp_path):
    folder = _folder(tmp_path)
    with pytest.raises(CheckpointError, match="has no manifest.json"):
        verify_checkpoint(folder)
    (folder / MANIFEST_FILE).write_text('{"files": ["a.bin"]}')
    with pytest.raises(CheckpointError, match="manifest.json is unreadable"):
        verify_checkpoint(folder)
