"""Choose the demo's critic on the validation split only: train each variant, read its
validation rows, write a table. The dev sets and the detection sets (the 173 StrategyQA
calibration records, the Sports detection share) are never touched here: every run holds the
Sports detection set out of training (data.holdout_detection) and validates on
``data.eval_fraction`` 0.2 of the training feedback (by question) plus synthetic records
made from those held-out corrections (training/data/critic_pairs.py:critic_val_items).

Each variant is configs/critic/demo.yaml (or, for ``mt_*``, configs/multitask/demo.yaml with
the same validation split) plus overrides. For each run the table gives, at the evaluation
final/ holds (best val/auroc_all): AUROC on all validation records (real + synthetic) under
each label scoring, with a 95% bootstrap CI for the chosen one; AUROC on the real held-out
chains per task; the scoring and temperature stored in final/critic.json; and ECE before and
after temperature, the temperature cross-fitted (fitted on one half of the validation
records, measured on the other, both ways) so the ECE is not measured on its own fit.

    python scripts/sweep_critic.py --out runs/sweep_critic
    python scripts/sweep_critic.py --out runs/sweep_critic --only chains,corr_aug
    python scripts/sweep_critic.py --out runs/sweep_critic --only corr_aug_bal,corr_aug_bal_words \
        --compare corr_aug_bal_words:corr_aug_bal

The results go to ``<out>/sweep_critic.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from feedback_data.text.instructions import DEFAULT_LABEL_WORDS  # noqa: E402

AUG = {"fact_swap": 0.5, "drop_step": 0.25, "insert_fact": 0.25, "flip_answer": 0.25}
CRITIC_VARIANTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "chains": ("critic", "separate critic on the model chains only (the paper's labels)",
               {"data.critic_corrections": False, "data.critic_augment": {}}),
    "corr": ("critic", "+ gold-consistent corrections as 'no error'",
             {"data.critic_corrections": True, "data.critic_augment": {}}),
    "corr_aug": ("critic", "+ corrections + counterfactual edits (FE .5, MF/IR/LI .25)",
                 {"data.critic_corrections": True, "data.critic_augment": AUG}),
    "corr_aug_bal": ("critic", "corr_aug + balance by resampling",
                     {"data.critic_corrections": True, "data.critic_augment": AUG,
                      "data.critic_balance": "resample"}),
    "corr_aug_rew": ("critic", "corr_aug + balance by reweighting the loss (each pair once)",
                     {"data.critic_corrections": True, "data.critic_augment": AUG,
                      "data.critic_balance": "reweight"}),
    "corr_aug_lr1e-3": ("critic", "corr_aug at lr 1e-3",
                        {"data.critic_corrections": True, "data.critic_augment": AUG,
                         "train.lr": 1e-3}),
    "corr_aug_bal_lr1e-3_2ep": ("critic", "corr_aug_bal at lr 1e-3, two epochs",
                                {"data.critic_corrections": True, "data.critic_augment": AUG,
                                 "data.critic_balance": "resample", "train.lr": 1e-3,
                                 "train.epochs": 2.0}),
    "corr_aug_2ep": ("critic", "corr_aug, two epochs",
                     {"data.critic_corrections": True, "data.critic_augment": AUG,
                      "train.epochs": 2.0}),
    "corr_aug_bal_words": ("critic", "corr_aug_bal, the critic writing single-token label "
                           "words (data.critic_label_words)",
                           {"data.critic_corrections": True, "data.critic_augment": AUG,
                            "data.critic_balance": "resample",
                            "data.critic_label_words": list(DEFAULT_LABEL_WORDS)}),
    "mt_demo": ("multitask", "the demo's multitask recipe as shipped (its critic is final/)",
                {}),
    "mt_demo_words": ("multitask", "mt_demo, the critic writing single-token label words",
                      {"data.critic_label_words": list(DEFAULT_LABEL_WORDS)}),
    "mt_corr_aug": ("multitask", "multitask demo recipe + corrections + edits, critic "
                    "chosen apart (train.select_critic_by val/auroc_all)",
                    {"data.critic_corrections": True, "data.critic_augment": AUG,
                     "data.eval_fraction": 0.2, "train.select_critic_by": "val/auroc_all"}),
}


def rank_auroc(scores: list[float], gold: list[bool]) -> float | None:
    """AUROC by ranks (Mann-Whitney U, ties half), O(n log n): the same number as
    training.recipe.validation.auroc, fast enough for a bootstrap."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    pos = sum(gold)
    neg = len(gold) - pos
    if not pos or not neg:
        return None
    return (sum(r for r, y in zip(ranks, gold, strict=True) if y) - pos * (pos + 1) / 2) / (
        pos * neg)


def bootstrap_auroc(scores: list[float], gold: list[bool], n: int = 1000, seed: int = 0
                    ) -> tuple[float, float]:
    """95% percentile bootstrap interval of the AUROC (records resampled)."""
    rng = random.Random(seed)
    idx = list(range(len(scores)))
    values = []
    for _ in range(n):
        pick = [rng.choice(idx) for _ in idx]
        v = rank_auroc([scores[i] for i in pick], [gold[i] for i in pick])
        if v is not None:
            values.append(v)
    values.sort()
    return values[int(0.025 * len(values))], values[int(0.975 * len(values)) - 1]


def critic_folder(run: Path) -> Path:
    """The folder a run's critic is read from: critic/ (chosen apart) or final/."""
    return run / ("critic" if (run / "critic").is_dir() else "final")


def validation_probs(folder: Path) -> tuple[list[float], dict[str, Any]]:
    """P(no error) at T 1 of each validation record of a critic folder, under the scoring
    its critic.json stores, and the folder's critic_validation.json."""
    from feedback_data.text.critic_labels import load_reading, no_error_probability, read_scores

    val = json.loads((folder / "critic_validation.json").read_text())
    scoring = load_reading(folder).scoring
    return [no_error_probability(read_scores(r, val["first_ids"], scoring))
            for r in val["rows"]], val


def read_folder(folder: Path) -> dict[str, Any]:
    """Validation numbers of one critic folder (final/ or critic/)."""
    from eval.metrics import expected_calibration_error
    from feedback_data.text.critic_labels import (
        SCORINGS,
        fit_temperature,
        load_reading,
        no_error_probability,
        read_scores,
    )
    from training.recipe.validation import auroc

    p1, val = validation_probs(folder)
    stored = json.loads((folder / "critic.json").read_text())
    reading = load_reading(folder)
    rows, first, gold, real = val["rows"], val["first_ids"], val["no_error"], val["real"]
    tasks = val["tasks"]
    out: dict[str, Any] = {"records": len(rows), "real": real, "no_error": sum(gold),
                           "scoring": reading.scoring, "temperature": reading.temperature}
    for s in SCORINGS:
        probs = [no_error_probability(read_scores(r, first, s)) for r in rows]
        out[f"auroc_all_{s}"] = auroc(probs, gold)
    scores = [read_scores(r, first, reading.scoring) for r in rows]
    out["auroc_all_ci"] = bootstrap_auroc(p1, gold)
    for task in sorted(set(tasks[:real])):
        keep = [i for i in range(real) if tasks[i] == task]
        out[f"auroc_real_{task}"] = auroc([p1[i] for i in keep], [gold[i] for i in keep])
    out["ece_t1"] = expected_calibration_error(p1, gold)
    # Cross-fitted temperature: fit on one half, measure on the other (both ways).
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    halves = [order[::2], order[1::2]]
    probs = [0.0] * len(rows)
    for a, b in (halves, halves[::-1]):
        t = fit_temperature([scores[i] for i in a], [gold[i] for i in a])
        for i in b:
            probs[i] = no_error_probability(scores[i], t)
    out["ece_t_crossfit"] = expected_calibration_error(probs, gold)
    out["prior_no_error"] = sum(gold) / len(gold)
    out["auroc_by_scoring_stored"] = stored.get("auroc_by_scoring")
    return out


def run_variant(name: str, objective: str, overrides: dict[str, Any], out: Path,
                model: str, eval_every: int = 0) -> dict[str, Any]:
    from training.recipe.objectives import train
    from training.run.config_load import load_config

    run_dir = out / name
    config = ROOT / "configs" / objective / "demo.yaml"
    values = {"model.name_or_path": model, "train.output_dir": str(run_dir),
              "train.progress_bar": False, "train.eval_every": eval_every, **overrides}
    started = time.perf_counter()
    if not (run_dir / "final" / "critic.json").is_file():
        train(load_config(config, overrides=values, objective=objective))
    seconds = time.perf_counter() - started
    run = json.loads((run_dir / "run.json").read_text())
    if seconds < 60:  # read back from an earlier invocation: its start to its critic.json
        from datetime import datetime

        begun = datetime.fromisoformat(run["started"]).timestamp()
        seconds = (run_dir / "final" / "critic.json").stat().st_mtime - begun
    folder = critic_folder(run_dir)
    row = {"variant": name, "objective": objective, **read_folder(folder),
           "pairs": run["counts"]["pairs_train_by_term"], "critic_counts":
           run["counts"].get("critic", {}), "total_steps": run["total_steps"],
           "best_step": (run.get("critic_validation") or run.get("validation") or {}).get(
               "best_step"), "seconds": round(seconds, 1), "git_commit": run["git_commit"]}
    return row


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return f"[{v[0]:.3f}, {v[1]:.3f}]"
    return str(v)


def markdown(rows: list[dict[str, Any]]) -> str:
    head = ("| Variant | What it changes | AUROC all, sum | mean | first token | CI (chosen) "
            "| AUROC real Sports (chosen) | real StrategyQA (chosen) | scoring, T | ECE T 1 "
            "| ECE T (cross-fit) | best step / steps | time (s) |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        what = CRITIC_VARIANTS[r["variant"]][1]
        lines.append("| " + " | ".join([
            r["variant"], what, fmt(r["auroc_all_sum"]), fmt(r["auroc_all_mean"]),
            fmt(r["auroc_all_first_token"]), fmt(r["auroc_all_ci"]),
            fmt(r.get("auroc_real_sports_understanding")),
            fmt(r.get("auroc_real_strategyqa")),
            f"{r['scoring']}, {r['temperature']:.2f}", fmt(r["ece_t1"]),
            fmt(r["ece_t_crossfit"]), f"{r['best_step']} / {r['total_steps']}",
            fmt(r["seconds"])]) + " |")
    lines.append("")
    seen = set()
    for r0 in rows:  # one line per validation set (a multitask run without the critic's
        key = (r0["records"], r0["no_error"])  # synthetic records reads the real ones only)
        if key in seen:
            continue
        seen.add(key)
        who = ", ".join(r["variant"] for r in rows if (r["records"], r["no_error"]) == key)
        lines.append(f"Validation records of {who}: {r0['records']} ({r0['real']} real "
                     f"held-out chains, the rest synthetic), {r0['no_error']} without error: "
                     f"the label prior {r0['prior_no_error']:.3f} (a constant scores AUROC "
                     "0.5).")
    return "\n".join(lines) + "\n"


def compare(out: Path, a: str, b: str) -> dict[str, Any]:
    """Paired bootstrap of AUROC(a) - AUROC(b) on the validation records both variants read
    (each under the scoring its critic.json stores), over all records and over each task's
    real held-out chains."""
    from eval.stats import paired_bootstrap_auroc_diff

    pa, va = validation_probs(critic_folder(out / a))
    pb, vb = validation_probs(critic_folder(out / b))
    if va["no_error"] != vb["no_error"] or va["tasks"] != vb["tasks"]:
        raise SystemExit(f"{a} and {b} were validated on different records")
    gold, tasks, real = va["no_error"], va["tasks"], va["real"]
    sets = {"all": list(range(len(gold)))}
    for task in sorted(set(tasks[:real])):
        sets[f"real {task}"] = [i for i in range(real) if tasks[i] == task]
    result = {}
    for key, keep in sets.items():
        r = paired_bootstrap_auroc_diff([pa[i] for i in keep], [pb[i] for i in keep],
                                        [gold[i] for i in keep])
        result[key] = r
        print(f"{a} - {b}, {key} ({len(keep)} records): AUROC {r['auroc_a']:.3f} - "
              f"{r['auroc_b']:.3f} = {r['diff']:+.3f} [{r['lo']:+.3f}, {r['hi']:+.3f}], "
              f"p {r['p_value']:.3f}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/sweep_critic"))
    ap.add_argument("--model", default=str(ROOT / "models" / "tiny-base"))
    ap.add_argument("--only", default="", help="comma-separated variant names")
    ap.add_argument("--eval-every", type=int, default=0,
                    help="validate every N steps (0: once, at the end; a validation pass "
                         "scores ~1,000 records x 16 labels, minutes on 2 CPU cores)")
    ap.add_argument("--compare", default="",
                    help="A:B[,C:D]: after the runs, a paired bootstrap of AUROC(A) - "
                         "AUROC(B) on their shared validation records (all, and each task's "
                         "real chains)")
    args = ap.parse_args()
    names = [n for n in (args.only.split(",") if args.only else CRITIC_VARIANTS) if n]
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        objective, _, overrides = CRITIC_VARIANTS[name]
        rows.append(run_variant(name, objective, overrides, args.out, args.model,
                                args.eval_every))
        print(json.dumps({k: rows[-1][k] for k in ("variant", "auroc_all_sum",
                                                    "auroc_all_mean", "ece_t_crossfit")}),
              flush=True)
        (args.out / "sweep_critic.json").write_text(json.dumps(rows, indent=2) + "\n")
        (args.out / "sweep_critic.md").write_text(markdown(rows))
    print(markdown(rows))
    diffs = {pair: compare(args.out, *pair.split(":", 1))
             for pair in args.compare.split(",") if pair}
    if diffs:
        (args.out / "sweep_critic_compare.json").write_text(json.dumps(diffs, indent=2) + "\n")


if __name__ == "__main__":
    main()
