"""The demo's multitask model as a critic, without the rest of the demo.

    .venv/bin/python scripts/demo_critic_eval.py --out runs/demo-critic

Trains the multitask objective exactly as ``rhf demo`` does (configs/multitask/demo.yaml on
the shipped base models/tiny-base, the demo's determinism and 2 threads; skipped when
OUT/train/multitask/final exists), then runs ``rhf eval`` with the multitask method only
(greedy, both full dev sets, k = 0, 48 new tokens). The report has Table 2 (the fine-tuned
critic and the ICL baseline on the calibration records), the step critic's ProcessBench F1,
and the selective-prediction curves (calibration records and the dev sets). Prints those
numbers. It is a subset of ``make demo``, for re-measuring the critics after a change.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/demo-critic"), help="run folder")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (the demo's 2)")
    ap.add_argument("--limit", type=int, default=None,
                    help="first N dev examples per task (a smoke run; default: all)")
    ap.add_argument("--calibration-limit", type=int, default=None,
                    help="first N calibration records (a smoke run; default: all 173)")
    args = ap.parse_args()

    from eval.config import EvalConfig
    from eval.runner import run_eval
    from pipeline.demo import make_deterministic
    from training.recipe.multitask import train
    from training.run.config_load import load_config

    make_deterministic(args.threads)
    run = args.out / "train" / "multitask"
    if not (run / "final").exists():
        started = time.perf_counter()
        cfg = load_config(ROOT / "configs" / "multitask" / "demo.yaml", overrides={
            "model.name_or_path": str(ROOT / "models" / "tiny-base"),
            "train.output_dir": str(run), "data.extra_feedback": [], "train.resume": False},
            objective="multitask")
        train(cfg)
        print(f"trained in {time.perf_counter() - started:.0f} s", flush=True)
    report = run_eval(EvalConfig.of(
        model=str(run), base_model=str(ROOT / "models" / "tiny-base"), out=args.out / "eval",
        methods=("multitask",), seeds=(0,), k=0, max_new_tokens=48, batch_size=256,
        threads=args.threads, limit=args.limit, calibration_limit=args.calibration_limit))
    print(report["step_critic"]["markdown"])
    for key, cal in report["calibration"].items():
        s = cal["selective"]
        auroc = "n/a" if cal["auroc"] is None else f"{cal['auroc']:.3f}"
        print(f"{key}: AUROC {auroc}; AURC {s['aurc']:.3f} (optimal "
              f"{s['aurc_optimal']:.3f}, risk at full coverage {s['risk_at_full_coverage']:.3f}); "
              f"coverage at 90% accuracy {s['coverage_at_target']:.4f}")
    for task, s in report["selective_dev"].items():
        print(f"dev {task}: AURC {s['aurc']:.3f} (optimal {s['aurc_optimal']:.3f}, risk at "
              f"full coverage {s['risk_at_full_coverage']:.3f}); coverage at 90% accuracy "
              f"{s['coverage_at_target']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
