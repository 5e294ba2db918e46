"""Draw the fixed sample on which the step-label parser's precision is judged by hand.

    python scripts/step_labels_sample.py --show            # print the 50 records to judge
    python scripts/step_labels_sample.py --check docs/step_labels_sample.jsonl
    python scripts/step_labels_sample.py --coverage        # labelled / refused per file

The sample: erroneous records (at least one error type) of the paper's feedback, half from
StrategyQA (train and calibration pooled) and half from Sports Understanding (train), drawn
with ``random.Random(seed).sample`` from the records in file order. ``--check`` recomputes
the parser's output for the ids in a judged file and fails when it differs from what was
judged (the judgments then need redoing). Prints record text to the terminal only; the
judged file holds ids, parsed steps and verdicts, never the data's text.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from feedback_data.records.schema import FeedbackItem  # noqa: E402
from feedback_data.text.step_mentions import steps_from_descriptions  # noqa: E402

FILES = (("strategyqa", "train"), ("strategyqa", "eval"), ("sports_understanding", "train"))


def erroneous(task: str) -> list[FeedbackItem]:
    from feedback_data.sources.paper_import import load_paper_feedback

    return [i for t, split in FILES if t == task for i in load_paper_feedback(t, split)
            if i.feedback.error_types]


def draw(n: int, seed: int) -> list[FeedbackItem]:
    """``n`` records, ``n // 2`` StrategyQA then the rest Sports, seeded."""
    rng = random.Random(seed)
    half = n // 2
    return (rng.sample(erroneous("strategyqa"), half)
            + rng.sample(erroneous("sports_understanding"), n - half))


def parsed(item: FeedbackItem) -> dict:
    d = steps_from_descriptions(item.feedback.reasons, item.feedback.error_types,
                                item.chain.steps)
    return {"id": item.feedback.id, "n_steps": len(item.chain.steps),
            "wrong_steps": [s + 1 for s in d.wrong], "neutral_steps": [s + 1 for s in d.neutral],
            "first_wrong_step": None if d.first_wrong is None else
            (d.first_wrong + 1 if d.first_wrong >= 0 else -1), "refused": d.why}


def show(items: list[FeedbackItem]) -> None:
    for k, item in enumerate(items, 1):
        p = parsed(item)
        print(f"## {k}. {p['id']}  ({item.example.task}, gold {item.example.answer}, chain "
              f"answer {item.chain.answer})")
        for j, step in enumerate(item.chain.steps, 1):
            print(f"   [{j}] {step}")
        for code in item.feedback.error_types:
            print(f"   {code}: {item.feedback.reasons.get(code, '')!r}")
        print(f"   -> wrong {p['wrong_steps']} neutral {p['neutral_steps']} first "
              f"{p['first_wrong_step']} refused {p['refused']}\n")


def check(path: Path) -> int:
    by_id = {i.feedback.id: i for task in ("strategyqa", "sports_understanding")
             for i in erroneous(task)}
    bad = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        now = parsed(by_id[row["id"]]) if row["id"] in by_id else None
        keep = ("wrong_steps", "neutral_steps", "first_wrong_step", "refused")
        if now is None or any(now[k] != row[k] for k in keep):
            print(f"{row['id']}: judged {[row[k] for k in keep]}, parser now "
                  f"{None if now is None else [now[k] for k in keep]}")
            bad += 1
    print(f"{path}: {bad} of the judged records differ from the parser's output")
    return 1 if bad else 0


def coverage() -> None:
    from feedback_data.sources.paper_import import load_paper_feedback

    for task, split in FILES:
        items = [i for i in load_paper_feedback(task, split) if i.feedback.error_types]
        why = Counter(parsed(i)["refused"] for i in items)
        labelled = len(items) - sum(v for k, v in why.items() if k)
        print(f"{task}/{split}: {labelled} of {len(items)} erroneous records labelled; refused: "
              + ", ".join(f"{k}: {v}" for k, v in why.most_common() if k))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=50, help="records in the sample")
    ap.add_argument("--seed", type=int, default=0, help="seed of random.Random")
    ap.add_argument("--show", action="store_true", help="print the records to judge")
    ap.add_argument("--skeleton", type=Path, help="write ids + parsed steps (verdict empty)")
    ap.add_argument("--check", type=Path, help="a judged file to compare with the parser")
    ap.add_argument("--coverage", action="store_true", help="labelled / refused per file")
    args = ap.parse_args()
    if args.coverage:
        coverage()
        return 0
    if args.check:
        return check(args.check)
    items = draw(args.n, args.seed)
    if args.skeleton:
        args.skeleton.write_text("".join(json.dumps({"seed": args.seed, **parsed(i),
                                                     "verdict": None, "note": ""}) + "\n"
                                         for i in items), encoding="utf-8")
    if args.show or not args.skeleton:
        show(items)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
