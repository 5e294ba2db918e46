"""Does an annotation queue ordered by the critic's uncertainty pay? A simulation.

    .venv/bin/python scripts/sim_active.py [--out docs/sim_active] [--seeds 3] [--steps 80]
    .venv/bin/python scripts/sim_active.py --quick        # a smoke test (seconds)

Pool: the paper's 1,565 StrategyQA training records; their released labels play the annotator.
Each strategy "annotates" the pool in its own order:
- random: a shuffled order;
- uncertainty: after each retraining, the not-yet-annotated records whose critic P(no error)
  is closest to 0.5 come next (what `rhf annotate push --order uncertainty` does).
Both start from the same random first batch. After 100, 200, 400 and 800 records the critic
(the embedded tiny T5, the multitask error-types term only) is retrained from the same
initialisation on the records annotated so far, and its error-detection AUROC (score
1 - P(no error), label "has an error") is measured on the 173 calibration records. Three seeds;
the plot shows the mean with a 95% t-interval over seeds. Writes ``<out>.json`` and
``<out>.png``. Runs on the CPU in minutes; set OMP_NUM_THREADS as the machine allows.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from eval.metrics import auroc
from feedback_data.records.schema import FeedbackItem
from feedback_data.sources.paper_import import load_paper_feedback
from feedback_data.text.critic_labels import no_error_probabilities
from feedback_data.text.instructions import error_types_prompt, error_types_text
from feedback_data.text.source_tokens import source_ids
from inference.backends import Backend
from training.model.tiny_model import init_tiny

BUDGETS = (100, 200, 400, 800)
STRATEGIES = ("uncertainty", "random")
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}  # two-sided 95%, by d.o.f.


def prompt(item: FeedbackItem) -> str:
    return error_types_prompt(item.chain.question, item.chain.text)


def train_critic(init_dir: Path, items: list[FeedbackItem], seed: int, steps: int,
                 batch_size: int, lr: float, max_len: int) -> Backend:
    """The tiny T5 trained from ``init_dir`` on (error-types prompt -> error types text)."""
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(init_dir)
    model = T5ForConditionalGeneration.from_pretrained(init_dir)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    sources = [prompt(i) for i in items]
    targets = [error_types_text(list(i.feedback.error_types)) for i in items]
    for _ in range(steps):
        idx = [rng.randrange(len(items)) for _ in range(min(batch_size, len(items)))]
        # cut as inference cuts (feedback_data.text.source_tokens), then padded
        enc = tokenizer.pad({"input_ids": source_ids(tokenizer, [sources[i] for i in idx],
                                                     max_len, causal=False)},
                            return_tensors="pt")
        lab = tokenizer(text_target=[targets[i] for i in idx], return_tensors="pt",
                        padding=True)["input_ids"]
        loss = model(**enc, labels=lab.masked_fill(lab == tokenizer.pad_token_id, -100)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    return Backend(model=model, tokenizer=tokenizer, name="sim-critic", is_encoder_decoder=True,
                   max_source_length=max_len, batch_size=64)


def detection_auroc(critic: Backend, items: list[FeedbackItem]) -> float | None:
    p = no_error_probabilities(critic, [prompt(i) for i in items])
    return auroc([1.0 - x for x in p], [bool(i.feedback.error_types) for i in items])


def simulate(pool: list[FeedbackItem], calib: list[FeedbackItem], strategy: str, seed: int,
             budgets: tuple[int, ...], init_dir: Path, args: argparse.Namespace
             ) -> list[float | None]:
    """AUROC on ``calib`` after each budget, annotating ``pool`` in the strategy's order."""
    rng = random.Random(seed)
    order = list(range(len(pool)))
    rng.shuffle(order)
    annotated, remaining = order[:budgets[0]], order[budgets[0]:]
    scores = []
    for k in range(len(budgets)):
        critic = train_critic(init_dir, [pool[i] for i in annotated], seed, args.steps,
                              args.batch_size, args.lr, args.max_len)
        scores.append(detection_auroc(critic, calib))
        if k + 1 == len(budgets):
            break
        more = budgets[k + 1] - len(annotated)
        if strategy == "uncertainty":
            p = no_error_probabilities(critic, [prompt(pool[i]) for i in remaining])
            ranked = sorted(range(len(remaining)), key=lambda j: abs(p[j] - 0.5))
            picked = {remaining[j] for j in ranked[:more]}
            annotated += [i for i in remaining if i in picked]
            remaining = [i for i in remaining if i not in picked]
        else:  # random: the next records of the shuffled order
            annotated, remaining = annotated + remaining[:more], remaining[more:]
    return scores


def mean_ci(xs: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval (0 for a single value)."""
    mean = statistics.fmean(xs)
    if len(xs) < 2:
        return mean, 0.0
    return mean, T_975.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / math.sqrt(len(xs))


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    budgets = results["budgets"]
    for strategy in results["strategies"]:
        rows = results["auroc"][strategy]
        stats = [mean_ci([r[k] for r in rows if r[k] is not None]) for k in range(len(budgets))]
        means = [m for m, _ in stats]
        half = [h for _, h in stats]
        ax.errorbar(budgets, means, yerr=half, marker="o", capsize=4, label=strategy)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.set_xlabel("records annotated")
    ax.set_ylabel("error-detection AUROC (173 calibration records)")
    ax.set_title(f"critic retrained on the annotated records ({len(results['seeds'])} seeds, "
                 "95% CI)", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/sim_active"),
                        help="Writes OUT.json and OUT.png.")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=80, help="Training steps per retraining.")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--max-len", type=int, default=192)
    parser.add_argument("--quick", action="store_true",
                        help="Smoke test: 60-record pool, budgets 10/20, 2 steps, 20 calibration "
                             "records, 1 seed.")
    args = parser.parse_args()
    pool = load_paper_feedback("strategyqa", "train")
    calib = load_paper_feedback("strategyqa", "eval")
    budgets = BUDGETS
    seeds = list(range(args.seeds))
    if args.quick:
        pool, calib, budgets, seeds, args.steps = pool[:60], calib[:20], (10, 20), [0], 2
    torch.set_num_threads(max(1, torch.get_num_threads()))
    results = {"budgets": list(budgets), "strategies": list(STRATEGIES), "seeds": seeds,
               "pool": len(pool), "calibration": len(calib), "steps": args.steps,
               "batch_size": args.batch_size, "lr": args.lr,
               "auroc": {s: [] for s in STRATEGIES}}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rhf-sim-active-") as tmp:
        for seed in seeds:
            init_dir = init_tiny(Path(tmp) / f"init-{seed}", seed=seed)
            for strategy in STRATEGIES:
                scores = simulate(pool, calib, strategy, seed, budgets, init_dir, args)
                results["auroc"][strategy].append(scores)
                shown = ", ".join("n/a" if s is None else f"{s:.3f}" for s in scores)
                print(f"seed {seed} {strategy:11}: AUROC at {list(budgets)} = {shown} "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.out.with_suffix(".png"))
    for strategy in STRATEGIES:
        rows = results["auroc"][strategy]
        stats = [mean_ci([r[k] for r in rows if r[k] is not None]) for k in range(len(budgets))]
        print(f"{strategy:11}: " + ", ".join(f"{b}: {m:.3f} ± {h:.3f}"
                                            for b, (m, h) in zip(budgets, stats, strict=True)))
    print(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
