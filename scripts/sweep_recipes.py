"""Choose the demo's recipes on the validation split: train each variant, read its
validation metrics, write a table. The dev sets are never touched here.

Each variant is the shipped demo config (configs/<objective>/demo.yaml) plus overrides. Every
run validates every ``--eval-every`` steps (answer accuracy on the validation questions,
detection AUROC on the held-out feedback records) and keeps its best evaluation by
``--select-by``; the table reports that evaluation's metrics, the step it came from and the
run's wall time.

    python scripts/sweep_recipes.py --out runs/sweep --objective multitask
    python scripts/sweep_recipes.py --out runs/sweep --only paper,drop --epochs 1

The results go to ``<out>/sweep_<objective>.json`` and ``.md`` (the README's sweep table
comes from them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# name -> (what it changes, overrides on top of the demo config)
R1ST = {"data.chain_order": "reasoning_first", "train.val_max_new_tokens": 96}
REPLAY = {"data.replay": "base", "data.replay_share": 0.3}
MULTITASK_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "paper": ("the paper's recipe: answer first, contradicting corrections kept, lr 1e-3",
              {"data.contradicting_corrections": "keep"}),
    "drop": ("contradicting corrections dropped", {}),
    "reasoning": ("drop + reasoning first", R1ST),
    "replay": ("drop + replay of the base's chains (30% of steps)", REPLAY),
    "reasoning_replay": ("drop + reasoning first + replay 30%", {**R1ST, **REPLAY}),
    "lr3e-4": ("drop + lr 3e-4", {"train.lr": 3e-4}),
    "lr1e-4": ("drop + lr 1e-4", {"train.lr": 1e-4}),
    "lora": ("drop + LoRA r 16 on q, k, v, o, wi_0, wi_1, wo (lr 1e-3)",
             {"model.lora_r": 16, "model.lora_alpha": 32,
              "model.lora_target_modules": ["q", "k", "v", "o", "wi_0", "wi_1", "wo"]}),
    "replay_lr3e-4": ("drop + replay 30% + lr 3e-4", {**REPLAY, "train.lr": 3e-4}),
    "replay_lr1e-4": ("drop + replay 30% + lr 1e-4", {**REPLAY, "train.lr": 1e-4}),
    "reasoning_replay_lr3e-4": ("drop + reasoning first + replay 30% + lr 3e-4",
                                {**R1ST, **REPLAY, "train.lr": 3e-4}),
    "replay50_lr1e-4": ("drop + replay 50% + lr 1e-4",
                        {**REPLAY, "data.replay_share": 0.5, "train.lr": 1e-4}),
    "replay50_lr3e-4": ("drop + replay 50% + lr 3e-4",
                        {**REPLAY, "data.replay_share": 0.5, "train.lr": 3e-4}),
    "replay50_lr1e-4_et2": ("drop + replay 50% + lr 1e-4 + error types weight 2",
                            {**REPLAY, "data.replay_share": 0.5, "train.lr": 1e-4,
                             "data.term_weights": {"answer": 1.0, "error_types": 2.0,
                                                   "description": 1.0}}),
    "reasoning_replay50_lr3e-4": ("drop + reasoning first + replay 50% + lr 3e-4",
                                  {**R1ST, **REPLAY, "data.replay_share": 0.5,
                                   "train.lr": 3e-4}),
    "reasoning_replay50_lr1e-3": ("drop + reasoning first + replay 50% + lr 1e-3",
                                  {**R1ST, **REPLAY, "data.replay_share": 0.5}),
    "reasoning_replay50_lr3e-4_2ep": ("drop + reasoning first + replay 50% + lr 3e-4, "
                                      "two epochs",
                                      {**R1ST, **REPLAY, "data.replay_share": 0.5,
                                       "train.lr": 3e-4, "train.epochs": 2.0}),
    "replay50_lr1e-4_2ep": ("drop + replay 50% + lr 1e-4, two epochs",
                            {**REPLAY, "data.replay_share": 0.5, "train.lr": 1e-4,
                             "train.epochs": 2.0}),
}
REFINE_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "paper": ("the paper's recipe: answer first, contradicting kept",
              {"data.contradicting_corrections": "keep"}),
    "drop": ("contradicting corrections dropped", {}),
    "reasoning": ("drop + reasoning first", {"data.chain_order": "reasoning_first",
                                             "train.val_max_new_tokens": 96}),
    "lr3e-4": ("drop + lr 3e-4", {"train.lr": 3e-4}),
    "replay50_lr3e-4": ("drop + replay 50% (the base's chains under the answer instruction) "
                        "+ lr 3e-4", {"data.replay": "base", "data.replay_share": 0.5,
                                      "train.lr": 3e-4}),
}
COLUMNS = ("val/accuracy_sports_understanding", "val/accuracy_strategyqa", "val/accuracy",
           "val/auroc_sports_understanding", "val/auroc_strategyqa", "val/auroc",
           "val/score", "val/detection_accuracy")


def run_variant(objective: str, name: str, overrides: dict[str, Any], out: Path,
                common: dict[str, Any]) -> dict[str, Any]:
    from training.recipe.objectives import train
    from training.run.config_load import load_config

    run_dir = out / objective / name
    if (run_dir / "final").is_dir():
        started = None  # finished earlier: read it
    else:
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)
        started = time.perf_counter()
        cfg = load_config(ROOT / "configs" / objective / "demo.yaml",
                          overrides={"train.output_dir": str(run_dir), **common, **overrides},
                          objective=objective)
        train(cfg)
    run = json.loads((run_dir / "run.json").read_text())
    validation = run.get("validation") or {}
    seconds = (time.perf_counter() - started) if started is not None else run.get(
        "sweep_seconds")
    if started is not None:
        run["sweep_seconds"] = seconds
        (run_dir / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    return {"variant": name, "overrides": overrides, "best_step": validation.get("best_step"),
            "final_step": run.get("final_step"), "total_steps": run.get("total_steps"),
            "metrics": {k: validation.get("best_metrics", {}).get(k) for k in COLUMNS},
            "seconds": seconds}


def markdown(rows: list[dict[str, Any]], variants: dict, select_by: str) -> str:
    shown = [c for c in COLUMNS if any(r["metrics"].get(c) is not None for r in rows)]
    head = "| Variant | What it changes | " + " | ".join(c.removeprefix("val/") for c in shown) \
        + " | Best step / steps | Time (s) |"
    lines = [head, "|---" * (len(shown) + 4) + "|"]
    for r in rows:
        cells = [("n/a" if r["metrics"].get(c) is None else f"{r['metrics'][c]:.3f}")
                 for c in shown]
        seconds = f"{r['seconds']:.0f}" if r["seconds"] else "n/a"
        lines.append(f"| {r['variant']} | {variants[r['variant']][0]} | " + " | ".join(cells)
                     + f" | {r['best_step']} / {r['final_step']} | {seconds} |")
    lines += ["", f"Each row: the evaluation with the best {select_by} (validation split only)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "sweep")
    ap.add_argument("--objective", choices=("multitask", "refine"), default="multitask")
    ap.add_argument("--only", default="", help="comma-separated variant names (default all)")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--eval-every", type=int, default=40)
    ap.add_argument("--select-by", default="val/score")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=str(ROOT / "models" / "tiny-base"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    variants = MULTITASK_VARIANTS if args.objective == "multitask" else REFINE_VARIANTS
    names = [n for n in args.only.split(",") if n] or list(variants)
    unknown = sorted(set(names) - set(variants))
    if unknown:
        sys.exit(f"error: unknown variant(s) {unknown}; known: {', '.join(variants)}")
    select_by = args.select_by if args.objective == "multitask" else "val/accuracy"
    common = {"model.name_or_path": args.model, "train.epochs": args.epochs,
              "train.eval_every": args.eval_every, "train.validate": True,
              "train.select_by": select_by, "train.progress_bar": False}
    rows = []
    for name in names:
        print(f"== {args.objective} {name}: {variants[name][0]}", flush=True)
        rows.append(run_variant(args.objective, name, variants[name][1], args.out, common))
        print(json.dumps(rows[-1]["metrics"]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"objective": args.objective, "epochs": args.epochs, "select_by": select_by,
              "eval_every": args.eval_every, "model": args.model, "rows": rows}
    (args.out / f"sweep_{args.objective}.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(rows, variants, select_by)
    (args.out / f"sweep_{args.objective}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
