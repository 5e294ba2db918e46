"""P(no error) over the five single labels against the full sixteen-label set, on the
detection sets: how much AUROC and ECE change when the multi-type labels the critic is
trained to write are scored too.

    python scripts/compare_label_sets.py --model runs/demo/train/multitask

Prints one line per detection set and label set, and writes ``--out`` (JSON) if given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="multitask checkpoint (folder or RUN_DIR)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    from eval.metrics import auroc, expected_calibration_error
    from feedback_data.sources.splits import detection_sets
    from feedback_data.text.critic_labels import no_error_probability, reading_of
    from feedback_data.text.instructions import error_types_prompt
    from inference.backends import Backend

    torch.set_num_threads(args.threads)
    model = Backend.load(args.model, batch_size=args.batch_size)
    labels_all = list(reading_of(model).labels)  # its label texts or label words
    singles = labels_all[:5]
    result = {}
    for task, items in detection_sets().items():
        prompts = [error_types_prompt(i.example.question, i.chain.text, model.chain_order)
                   for i in items]
        rows = model.score_choices(prompts, labels_all, batch_size=args.batch_size)
        gold = [not i.feedback.error_types for i in items]
        for name, width in (("5 single labels", 5), ("16 labels", 16)):
            labels = labels_all[:width]
            assert labels[:5] == singles
            probs = [no_error_probability(r[:width]) for r in rows]
            entry = {"n": len(items), "auroc": auroc(probs, gold),
                     "ece": expected_calibration_error(probs, gold, 10),
                     "mean_p_no_error": sum(probs) / len(probs),
                     "gold_no_error_share": sum(gold) / len(gold)}
            result[f"{task} / {name}"] = entry
            print(f"{task:22s} {name:16s} n={entry['n']:4d} AUROC {entry['auroc']:.3f} "
                  f"ECE {entry['ece']:.3f} mean P(no error) {entry['mean_p_no_error']:.3f} "
                  f"(gold share {entry['gold_no_error_share']:.3f})")
    if args.out:
        args.out.write_text(json.dumps({"model": args.model, "sets": result}, indent=2) + "\n")


if __name__ == "__main__":
    main()
