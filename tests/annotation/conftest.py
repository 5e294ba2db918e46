"""Fixtures for the annotation tests: one real Label Studio per pytest run, and small assets."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from annotation.client import LabelStudioClient
from annotation.server import LabelStudioServer, find_label_studio_bin, start_label_studio
from feedback_data.records.jsonl import read_records
from feedback_data.records.schema import Chain, Correction, Example, Feedback, FeedbackItem
from feedback_data.text.chain_format import parse_chain

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def _make_item(chain_id: str, annotator: str, types: list[str], steps: list[int],
              correction: str, time: str = "2024-01-01T00:00:00Z",
              source: str = "human") -> FeedbackItem:
    example = Example(id=f"ex-{chain_id}", task="strategyqa", question="Q?", answer="no")
    chain = Chain(id=chain_id, example_id=example.id, task="strategyqa", question="Q?",
                  model="m", prompt_id="p", text="The answer is yes because a. b.",
                  answer="yes", steps=["a.", "b."], parsed=True)
    answer, csteps, _ = parse_chain(correction)
    feedback = Feedback(id=f"{chain_id}/{annotator}", chain_id=chain_id, annotator=annotator,
                        source=source, correction=Correction(text=correction, answer=answer,
                                                             steps=csteps),
                        error_types=types, reasons={t: f"reason {t}" for t in types},
                        error_steps=steps, time=time)
    return FeedbackItem(example=example, chain=chain, feedback=feedback)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    """A real Label Studio on a free loopback port with a temporary data folder.

    For development, RHF_TEST_LABEL_STUDIO="URL TOKEN USERNAME PASSWORD" reuses a running one.
    """
    reuse = os.environ.get("RHF_TEST_LABEL_STUDIO", "").split()
    if reuse:
        url, token, username, password = reuse
        yield LabelStudioServer(url, token, username, password, Path("."), Path("."))
        return
    binary = find_label_studio_bin()
    if not binary.exists():
        pytest.fail(f"label-studio not found at {binary}: run `make label-studio` "
                    "(or set LABEL_STUDIO_BIN)", pytrace=False)
    # A cold start on a new database takes minutes on a loaded machine.
    server = start_label_studio(tmp_path_factory.mktemp("label-studio"), binary=binary,
                                timeout=900)
    yield server
    server.stop()


@pytest.fixture
def ls_client(label_studio: LabelStudioServer) -> Iterator[LabelStudioClient]:
    with LabelStudioClient(label_studio.url, label_studio.token) as client:
        yield client


@pytest.fixture
def project_title() -> str:
    """A fresh project title per test, so tests share the server but not a project."""
    return f"rhf test {uuid.uuid4().hex[:8]}"


@pytest.fixture
def ls_env(label_studio: LabelStudioServer, monkeypatch: pytest.MonkeyPatch) -> LabelStudioServer:
    """$LABEL_STUDIO_URL and $LABEL_STUDIO_API_KEY pointing at the test server."""
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    return label_studio


@pytest.fixture(scope="session")
def chains() -> list[Chain]:
    return read_records(ASSETS / "ls_chains.jsonl", Chain)


@pytest.fixture(scope="session")
def examples() -> dict[str, Example]:
    return {e.id: e for e in read_records(ASSETS / "ls_examples.jsonl", Example)}


@pytest.fixture
def export_asset() -> dict:
    """A five-task full JSON export saved from Label Studio 1.23.2 (see test docstrings)."""
    return json.loads((ASSETS / "ls_export.json").read_text(encoding="utf-8"))


@pytest.fixture
def make_item():
    """A factory of small FeedbackItems for pure tests (chain id, annotator, types, steps, text)."""
    return _make_item
