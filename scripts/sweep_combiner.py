"""Choose the combined critic's inputs on the validation split only: for one trained critic
checkpoint and one verifier, compute every signal once on the critic's validation records
(``critic_validation.json``: the real held-out chains, never a dev or detection record), then
score each variant (which features, the L2 penalty, how many sampled verifier chains) by its
cross-fitted AUROC and ECE per task (5 stratified folds: every record is scored by a fit that
did not see it), with a 95% bootstrap CI of the AUROC.

    python scripts/sweep_combiner.py --checkpoint runs/demo/train/multitask/final \\
        --verifier models/tiny-base --out runs/sweep_combiner

With ``--planner MODEL`` (a model trained with the multitask subquestions term, or ``self``)
the planned subquestions' verification (the ``subquestions`` feature) is scored too, alone
and added to the others.

Writes ``<out>/sweep_combiner.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLES = (0, 4, 8)  # sampled verifier chains beside the greedy one
VARIANTS: dict[str, tuple[tuple[str, ...], float]] = {
    "learned": (("learned",), 1.0),
    "agreement": (("agreement",), 1.0),
    "verification": (("verification",), 1.0),
    "verification+agreement": (("verification", "agreement"), 1.0),
    "all": (("learned", "verification", "agreement"), 1.0),
    "all, l2 0.1": (("learned", "verification", "agreement"), 0.1),
    "all, l2 10": (("learned", "verification", "agreement"), 10.0),
}
# With --planner: the planned subquestions' verification, alone and added.
PLANNED_VARIANTS: dict[str, tuple[tuple[str, ...], float]] = {
    "subquestions": (("subquestions",), 1.0),
    "verification+subquestions": (("verification", "subquestions"), 1.0),
    "all+subquestions": (("learned", "verification", "agreement", "subquestions"), 10.0),
}
FOLDS = 5


def main() -> None:
    from eval.critic_combiner import cross_fitted, validation_items
    from eval.metrics import auroc, expected_calibration_error
    from eval.stats import bootstrap_auroc_ci
    from feedback_data.records.provenance import git_commit
    from inference.backends import Backend
    from inference.combined_critic import (
        VerifierSettings,
        as_judged,
        feature_row,
        learned_probabilities,
        planner_for,
        select,
        signals,
        subquestion_answers,
        verifier_chains,
    )

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, type=Path)
    ap.add_argument("--verifier", required=True)
    ap.add_argument("--out", type=Path, default=Path("runs/sweep_combiner"))
    ap.add_argument("--planner", help="a model trained with the subquestions term, or "
                    "'self' (the checkpoint): also score the planned subquestions")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    started = time.perf_counter()
    items = validation_items(args.checkpoint)
    critic = Backend.load(args.checkpoint, batch_size=args.batch_size)
    verifier = Backend.load(args.verifier, batch_size=args.batch_size)
    learned = learned_probabilities(critic, as_judged(items), args.batch_size)
    settings = VerifierSettings(args.verifier, samples=max(SAMPLES), planner=args.planner)
    examples = [i.example for i in items]
    chains = verifier_chains(verifier, examples, settings)
    answers = None
    variants = dict(VARIANTS)
    if args.planner:
        planner = planner_for(args.planner, critic,
                              lambda spec: Backend.load(spec, batch_size=args.batch_size))
        answers = subquestion_answers(planner, verifier, examples, settings, args.batch_size)
        variants.update(PLANNED_VARIANTS)
    gold = [not i.feedback.error_types for i in items]
    rows_by_samples = {}
    for k in SAMPLES:
        sig = signals(as_judged(items), {q: c[:k + 1] for q, c in chains.items()}, answers)
        rows_by_samples[k] = [feature_row(p, *s) for p, s in zip(learned, sig, strict=True)]
    results = []
    for k in SAMPLES:
        for name, (features, l2) in variants.items():
            if k and not {"verification", "agreement"} & set(features):
                continue  # no verifier chain in it
            entry = {"variant": name, "features": list(features), "l2": l2, "samples": k}
            for task in sorted({i.example.task for i in items}):
                idx = [n for n, i in enumerate(items) if i.example.task == task]
                x = [select(rows_by_samples[k][n], features) for n in idx]
                y = [gold[n] for n in idx]
                probs = cross_fitted(x, y, folds=FOLDS, l2=l2)
                ci = bootstrap_auroc_ci(probs, y, 1000, 0)
                entry[task] = {"n": len(y), "no_error": sum(y), "auroc": auroc(probs, y),
                               "auroc_ci": [ci["lo"], ci["hi"]],
                               "ece": expected_calibration_error(probs, y)}
            results.append(entry)
    out = {"checkpoint": str(args.checkpoint), "verifier": args.verifier,
           "planner": args.planner,
           "planned_questions": None if answers is None else {
               "questions": len(answers),
               "answered": sum(bool(a) for a in answers.values()),
               "subquestions": sum(len(a) for a in answers.values())},
           "commit": git_commit(), "records": len(items), "folds": FOLDS,
           "seconds": round(time.perf_counter() - started, 1), "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sweep_combiner.json").write_text(json.dumps(out, indent=2) + "\n")
    tasks = sorted({i.example.task for i in items})
    lines = ["| variant | verifier samples | " + " | ".join(
        f"{t} AUROC [95% CI] | {t} ECE" for t in tasks) + " |",
        "|---|---|" + "---|---|" * len(tasks)]
    for r in results:
        cells = [f"{r[t]['auroc']:.3f} [{r[t]['auroc_ci'][0]:.3f}, {r[t]['auroc_ci'][1]:.3f}]"
                 f" | {r[t]['ece']:.3f}" for t in tasks]
        lines.append(f"| {r['variant']} | {r['samples']} | " + " | ".join(cells) + " |")
    (args.out / "sweep_combiner.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
