"""The built-in tasks behave as before tasks were specs, bit for bit: their data, prompts,
training pairs, labeling interface, simulated annotations, `rhf data stats`, TRL exports,
chains and every `rhf eval` prediction and number on the shipped base (models/tiny-base),
against pins written at commit e5ada69 by scripts/pin_builtin_tasks.py and re-taken once
when the data began to come from content-checked sources (the script's docstring says what
moved then); what the learning
work changed on purpose (pairs, exports, wsc's 16-label scores, the calibration sets, the
step critic) against its own overlay of those paths only."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("pin_builtin_tasks",
                                              ROOT / "scripts" / "pin_builtin_tasks.py")
pins = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pins)
pytestmark = pytest.mark.usefixtures("real_data")


def test_builtin_tasks_match_their_pins():
    want = pins.expected()
    got = json.loads(json.dumps(pins.compute(), default=str))
    assert pins.differences(want, got) == []
    # the overlay replaces only the paths the learning work changed; cot, multitask and
    # refine, the prompts, chains and data are the pins' own
    overlay = json.loads(pins.LEARNING_PINS.read_text())
    assert set(overlay) <= set(pins.LEARNING_PATHS)
    original = json.loads(pins.PINS.read_text())
    assert want["model"]["predictions"]["cot_strategyqa_seed0"] == \
        original["model"]["predictions"]["cot_strategyqa_seed0"]
    assert want["model"]["accuracy"]["refine"] == original["model"]["accuracy"]["refine"]
    # the pins hold real predictions, not empty ones
    cot = want["model"]["predictions"]["cot_sports_understanding_seed0"]
    assert len(cot) == 4 and all(row["text"] for row in cot)
