"""The ECE floor of each Table 2 row of an evaluation: what a perfectly calibrated scorer with
that row's P(no error) would score on that many records from sampling alone
(:func:`eval.metrics.ece_if_calibrated`: labels drawn from the row's own P, 2,000 draws,
seed 0), beside the ECE the row measured, and the base-rate gap (|mean P − the set's share
without error|, :func:`eval.metrics.base_rate_gap`), below which no binning brings the ECE.
Reads only the report and its predictions; loads no model.

    python scripts/ece_floor.py runs/demo            # the folder rhf eval wrote
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from eval.metrics import base_rate_gap, ece_if_calibrated

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="an rhf eval folder (report.json, predictions/)")
    ap.add_argument("--draws", type=int, default=2000)
    args = ap.parse_args()
    path = args.folder / "report.json"
    if not path.is_file():
        sys.exit(f"{path}: no report.json (run rhf eval first)")
    report = json.loads(path.read_text(encoding="utf-8"))
    rows = {**report.get("calibration", {}), **report.get("detection_baselines", {})}
    print("| Row | n | ECE | ECE if calibrated: mean | 95th percentile | Mean P | Share "
          "without error | Base-rate gap |")
    print("|---|---|---|---|---|---|---|---|")
    for key, entry in rows.items():
        records = [json.loads(line) for line in
                   (args.folder / entry["predictions"]).read_text(encoding="utf-8").splitlines()]
        probs = [r["p_no_error"] for r in records]
        gold = [bool(r["gold_no_error"]) for r in records]
        floor = ece_if_calibrated(probs, draws=args.draws)
        print(f"| {key} | {len(records)} | {entry['ece']:.3f} | {floor['mean']:.3f} | "
              f"{floor['q95']:.3f} | {sum(probs) / len(probs):.3f} | "
              f"{sum(gold) / len(gold):.3f} | {base_rate_gap(probs, gold):.3f} |")


if __name__ == "__main__":
    main()
