"""The critic's calibration, stored with its checkpoint: ``critic_calibration.json``.

The critic's training (``objective: critic``) fits a temperature on validation and writes
``{"temperature": float, "scoring": str}`` next to the checkpoint (in the model folder or its
RUN_DIR). Every method that reads a calibrated P(no error) (wsc_soft, refine's threshold
rule, the τ chosen on validation) reads it from here; a checkpoint without the file has
temperature 1 (the softmax of the raw label scores).

Calibrated P(no error) = softmax(label log-probabilities / T) at 'no error'.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from feedback_data.critic_labels import label_probabilities

CALIBRATION_FILE = "critic_calibration.json"
# The scoring the label log-probabilities of this toolkit are computed with.
FULL_SEQUENCE = "full"


@dataclass(frozen=True)
class CriticCalibration:
    """A critic's temperature and the label scoring it was fitted on (``source``: the file
    read, None when there was none)."""

    temperature: float = 1.0
    scoring: str = FULL_SEQUENCE
    source: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.temperature, int | float) and math.isfinite(self.temperature)
                and self.temperature > 0):
            raise ValueError(f"{self.source or CALIBRATION_FILE}: temperature must be a "
                             f"positive number, got {self.temperature!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_critic_calibration(model_path: str | Path | None) -> CriticCalibration:
    """The calibration stored with the checkpoint at ``model_path`` (its folder, then the
    folder above, a RUN_DIR); temperature 1 when neither holds the file or the path is not
    a folder (a hub id). Unknown keys and a missing temperature are errors."""
    if model_path is None or not Path(model_path).is_dir():
        return CriticCalibration()
    for folder in (Path(model_path), Path(model_path).parent):
        f = folder / CALIBRATION_FILE
        if not f.is_file():
            continue
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{f}: invalid JSON ({exc})") from exc
        if not isinstance(data, dict) or "temperature" not in data:
            raise ValueError(f"{f}: expected {{\"temperature\": float, \"scoring\": str}}")
        unknown = set(data) - {"temperature", "scoring"}
        if unknown:
            raise ValueError(f"{f}: unknown keys {sorted(unknown)}")
        return CriticCalibration(float(data["temperature"]),
                                 str(data.get("scoring", FULL_SEQUENCE)), str(f))
    return CriticCalibration()


def calibrated_no_error(logps: Sequence[float], temperature: float = 1.0) -> float:
    """P('no error') after temperature scaling: softmax(logps / T) at index 0.

    >>> round(calibrated_no_error([math.log(0.2), math.log(0.8)], 1.0), 3)
    0.2
    >>> round(calibrated_no_error([math.log(0.2), math.log(0.8)], 2.0), 3)
    0.333
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return label_probabilities([x / temperature for x in logps])[0]
