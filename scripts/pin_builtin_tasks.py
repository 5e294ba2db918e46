"""Pin what the two built-in tasks give, so a change to the task machinery is checked to keep
them bit for bit: dev sets, shots and prompts, training pairs, the labeling interface, the
simulated annotator, `rhf data stats`, the TRL exports, chains and every method's predictions
and numbers of `rhf eval` on the shipped base (models/tiny-base).

    python scripts/pin_builtin_tasks.py            # writes tests/assets/builtin_pins.json
    python scripts/pin_builtin_tasks.py --check    # compares (what tests/test_builtin_pins.py does)

The pins in tests/assets/builtin_pins.json were first written at commit e5ada69, before tasks
became specs, from the ``bigbench==1.0.0`` sdist. They were re-taken once when the data
began to come from sources checked by content (feedback_data/sources/task_sources.py), because that
sdist is gone and examples are now ordered by id, never by file position. What moved then,
on purpose, and nothing else:

- the dev sets' order (example id order): so the first dev questions, the CoT prompts built
  on ``dev[0]``, and every prediction and number of `rhf eval` with ``limit`` (its questions
  are other ones);
- StrategyQA's shot draws for seeds other than 0: the explanations now come from StrategyQA's
  released facts (BIG-bench's ``target`` = "Yes. "/"No. " + the facts, whitespace collapsed),
  which for some questions differ in length from BIG-bench's file, so the pool of shots of
  at most 220 characters, and the seeded draws from it, differ; seed 0's shots, both tasks'
  shot pools' first shots, the Sports shots, the training pairs, the labeling interface,
  the simulated annotator, the stats and the TRL exports did not move.

Only the public functions every version has are called here.

What the learning work changed on purpose is pinned apart, in
tests/assets/builtin_pins_learning.json, at the commit that changed it, and overlays the
e5ada69 pins path by path (:data:`LEARNING_PATHS`): the training pairs (one pair per record
and term; contradicting corrections dropped), the TRL exports (the same policy; step labels
read from the error descriptions), wsc and wsc_soft (P(no error) over all 16 error labels),
the calibration entries (the Sports detection set added) and the step critic (the multitask
model asked for descriptions). Everything else (dev sets, shots, prompts, chains, the
labeling interface, the simulated annotator, stats, cot, multitask and refine predictions
and numbers) is still compared with e5ada69.

    python scripts/pin_builtin_tasks.py --pin-learning   # rewrites the overlay only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PINS = ROOT / "tests" / "assets" / "builtin_pins.json"
LEARNING_PINS = ROOT / "tests" / "assets" / "builtin_pins_learning.json"
LEARNING_PATHS: tuple[str, ...] = (
    *(f"data/{t}/{k}" for t in ("strategyqa", "sports_understanding")
      for k in ("multitask_pairs", "refine_pairs", "trl")),
    "model/accuracy/wsc", "model/accuracy/wsc_soft", "model/calibration",
    *(f"model/predictions/{m}_{t}_seed{s}" for m in ("wsc", "wsc_soft")
      for t in ("strategyqa", "sports_understanding") for s in (0, 1)),
    *(f"model/predictions/calibration_{k}" for k in ("finetuned", "icl", "sports_finetuned",
                                                      "sports_icl")),
    "model/step_critic",
)
BASE = ROOT / "models" / "tiny-base"
TASKS = ("strategyqa", "sports_understanding")


def digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _round(obj: Any) -> Any:
    """Floats to 6 digits (model probabilities), recursively."""
    if isinstance(obj, float):
        return round(obj, 6)
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_round(v) for v in obj]
    return obj


def data_pins() -> dict[str, Any]:
    """Everything that does not need a model."""
    from annotation.labeling_config import labeling_config
    from annotation.simulate import simulated_result
    from annotation.tasks import paper_chains, task_data
    from feedback_data.cli import build_stats
    from feedback_data.exports.formats import build
    from feedback_data.sources.bigbench import load_sports_vocab
    from feedback_data.sources.paper_import import load_paper_feedback
    from feedback_data.sources.splits import dev_examples
    from feedback_data.tasks.prompts import cot_prompt, default_shots, prompt_id
    from inference.chains import select_examples
    from training.data.multitask_pairs import multitask_pairs
    from training.data.refine_pairs import refine_pairs

    out: dict[str, Any] = {"labeling_config": digest(labeling_config()),
                           "stats": digest(build_stats())}
    vocab = load_sports_vocab()
    for task in TASKS:
        dev = dev_examples(task)
        t: dict[str, Any] = {"dev_size": len(dev),
                             "dev": digest([e.model_dump() for e in dev]),
                             "train_questions": digest([e.id for e in
                                                        select_examples(task, "train")])}
        for k, seed in ((4, 0), (4, 3), (2, 1)):
            shots = default_shots(task, k, seed=seed)
            t[f"shots_k{k}_s{seed}"] = [s.id for s in shots]
            t[f"prompt_id_k{k}_s{seed}"] = prompt_id(task, shots)
            t[f"cot_prompt_k{k}_s{seed}"] = digest(cot_prompt(task, dev[0].question, shots))
        items = load_paper_feedback(task, "train")
        pairs = multitask_pairs(items)
        t["multitask_pairs"] = digest([(p.source, p.target, p.term, p.id) for p in pairs])
        t["refine_pairs"] = digest([(p.source, p.target, p.term, p.id)
                                    for p in refine_pairs(items)])
        chains, examples = paper_chains(task, limit=6)
        t["task_data"] = digest([task_data(c, examples[c.example_id]) for c in chains])
        t["simulated"] = digest([simulated_result(examples[c.example_id], c,
                                                  random.Random(f"0/1/{c.id}"), 0.3, vocab)
                                 for c in chains])
        t["trl"] = {fmt: digest(build(fmt, items)[0]) for fmt in
                    ("sft", "sft-critique", "kto", "dpo", "prm", "processbench")}
        out[task] = t
    return out


def model_pins() -> dict[str, Any]:
    """Chains and `rhf eval` (every method, calibration) on the shipped base."""
    import torch

    from eval.config import EvalConfig
    from eval.runner import run_eval
    from inference.backends import Backend
    from inference.chains import generate_chains, select_examples

    torch.manual_seed(0)
    backend = Backend.load(str(BASE))
    backend.name = "tiny-base"
    out: dict[str, Any] = {}
    for task in TASKS:
        chains = generate_chains(backend, select_examples(task, "train", 3), task, k=2,
                                 max_new_tokens=40)
        out[f"chains_{task}"] = [c.model_dump() for c in chains]
    with tempfile.TemporaryDirectory() as tmp:
        report = run_eval(EvalConfig.of(
            model=str(BASE), base_model=str(BASE), refine_model=str(BASE), out=Path(tmp),
            limit=4, seeds=(0, 1), k=2, n=2, rounds=2, max_new_tokens=40,
            calibration_limit=6, bootstrap=100, plots=False), log=lambda _m: None)
        predictions = {}
        for path in sorted((Path(tmp) / "predictions").glob("*.jsonl")):
            rows = [json.loads(line) for line in path.read_text().splitlines()]
            predictions[path.stem] = _round(rows)
    out["predictions"] = predictions
    out["accuracy"] = _round(report["accuracy"])
    out["majority"] = _round(report["majority"])
    out["calibration"] = _round({k: {m: v[m] for m in ("n", "accuracy", "accuracy_ci",
                                                       "unreadable", "auroc", "ece", "shots")}
                                 for k, v in report["calibration"].items()})
    out["step_critic"] = _round({k: v for k, v in report["step_critic"].items()
                                 if k != "model"})
    return out


def compute() -> dict[str, Any]:
    return {"data": data_pins(), "model": model_pins()}


def _at(tree: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    *parents, leaf = path.split("/")
    for key in parents:
        tree = tree.setdefault(key, {})
    return tree, leaf


def learning_overlay(got: dict[str, Any]) -> dict[str, Any]:
    """The values at :data:`LEARNING_PATHS` of a computed pin tree."""
    copy, out = json.loads(json.dumps(got)), {}
    for path in LEARNING_PATHS:
        tree, leaf = _at(copy, path)
        if leaf in tree:
            out[path] = tree[leaf]
    return out


def expected() -> dict[str, Any]:
    """The e5ada69 pins with the learning overlay put in at its paths."""
    want = json.loads(PINS.read_text())
    overlay = json.loads(LEARNING_PINS.read_text())
    for path in LEARNING_PATHS:  # a path the overlay lacks is absent now
        tree, leaf = _at(want, path)
        if path in overlay:
            tree[leaf] = overlay[path]
        else:
            tree.pop(leaf, None)
    return want


def differences(want: Any, got: Any, where: str = "") -> list[str]:
    """Paths where two pin trees differ (first few)."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for key in sorted(set(want) | set(got)):
            if key not in want or key not in got:
                out.append(f"{where}/{key}: only in {'pins' if key in want else 'now'}")
            else:
                out += differences(want[key], got[key], f"{where}/{key}")
        return out
    return [] if want == got else [f"{where}: pinned {str(want)[:200]} != now {str(got)[:200]}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Compare instead of writing.")
    parser.add_argument("--pin-learning", action="store_true",
                        help="Rewrite only the learning overlay (LEARNING_PATHS).")
    parser.add_argument("--pin-all", action="store_true",
                        help="Rewrite both: the pins and the learning overlay (after a change "
                             "to the data every pin rests on).")
    args = parser.parse_args()
    got = json.loads(json.dumps(compute(), default=str))
    if args.pin_all:
        LEARNING_PINS.write_text(json.dumps(learning_overlay(got), indent=1, sort_keys=True,
                                            ensure_ascii=False) + "\n")
    if args.check:
        diff = differences(expected(), got)
        print("\n".join(diff) or "identical")
        raise SystemExit(1 if diff else 0)
    if args.pin_learning:
        LEARNING_PINS.write_text(json.dumps(learning_overlay(got), indent=1, sort_keys=True,
                                            ensure_ascii=False) + "\n")
        print(f"wrote {LEARNING_PINS}")
        return
    PINS.write_text(json.dumps(got, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"wrote {PINS}")


if __name__ == "__main__":
    main()
