"""Benchmark: batched weighted self-consistency vs a plain loop, the cost of refine, and
length-aware batching against batches in arrival order.

    .venv/bin/python scripts/bench_infer.py [--model M] [--questions 200] [--n 8]
    nice -n 15 .venv/bin/python scripts/bench_infer.py --length-only --repeats 3
    nice -n 15 .venv/bin/python scripts/bench_infer.py --compare-dtype bfloat16 --questions 100

Same model, same run. The plain loop makes one generate call per sample and one label-scoring
call per sample; ours samples all n answers of a batch of questions in one generate call (the
encoder runs once per question) and scores the labels of every distinct sample in batched
passes. Also: wsc's questions per second over greedy cot's (0-shot, same batch size), the
figure the GPU check reports on a GPU. Without
--model a tiny random-weight T5 is built (its chains never stop early: the worst case).

Length-aware batching (``Backend.length_aware``, on by default): the same greedy generate
calls with prompts batched longest first, and in the order they came, alternating A/B
``--repeats`` times in one run; the ratio is of the medians, in wall time and in this process's
CPU time (less sensitive to other jobs on a shared machine), with the padding efficiency
(real / padded encoder tokens) of both batch plans, which does not depend on the machine.
Workloads: the multitask answer prompt over dev questions of both tasks, and the critic's
error-types prompt over the paper's calibration records (real chains, of every length).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def plain_loop_wsc(backend, examples, n: int, w: float, temperature: float,
                   max_new_tokens: int, seed: int) -> list[str | None]:
    """wsc as a plain loop: one generate call per sample, one label-scoring call per sample
    (the same rule as :func:`inference.methods.run_wsc`: argmax of the five label scores)."""
    from feedback_data.text.chain_format import parse_chain
    from feedback_data.text.instructions import answer_prompt, error_types_prompt
    from inference.methods import ERROR_LABELS, label_weight, weighted_vote

    answers = []
    for i, ex in enumerate(examples):
        texts = [backend.generate([answer_prompt(ex.question)], do_sample=True,
                                  temperature=temperature, max_new_tokens=max_new_tokens,
                                  seed=seed + i * n + j)[0][0] for j in range(n)]
        logps = [backend.score_choices([error_types_prompt(ex.question, t)],
                                       list(ERROR_LABELS))[0] for t in texts]
        answers.append(weighted_vote([parse_chain(t)[0] for t in texts],
                                     [label_weight(row, w) for row in logps]))
    return answers


def padding_efficiency(lengths: list[int], batches: list[list[int]]) -> float:
    """Real tokens / tokens the encoder processes (each batch padded to its longest)."""
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    return sum(lengths) / padded


def length_aware_ratio(backend, name: str, prompts: list[str], max_new_tokens: int,
                       batch_size: int, repeats: int) -> float:
    """Arrival-order over length-aware median seconds (wall and CPU), printed with padding
    efficiency; returns the wall ratio."""
    import statistics

    from inference.sharding import plan_batches

    lengths = [len(r) for r in backend._token_rows(prompts)]
    eff = {"sorted": padding_efficiency(lengths, plan_batches(lengths, batch_size)),
           "arrival": padding_efficiency(lengths, plan_batches([0] * len(lengths),
                                                               batch_size))}
    wall: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeats):
        for aware in (False, True):
            backend.length_aware = aware
            w0, c0 = time.perf_counter(), time.process_time()
            backend.generate(prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
            wall[aware].append(time.perf_counter() - w0)
            cpu[aware].append(time.process_time() - c0)
    backend.length_aware = True
    med = {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in wall}
    ratio = med[False][0] / med[True][0]
    print(f"length-aware, {name} ({len(prompts)} prompts, {min(lengths)}-{max(lengths)} "
          f"tokens, batch {batch_size}): arrival order {med[False][0]:.1f}s wall / "
          f"{med[False][1]:.1f}s cpu, length-aware {med[True][0]:.1f}s / {med[True][1]:.1f}s: "
          f"ratio {ratio:.2f} wall, {med[False][1] / med[True][1]:.2f} cpu (per repeat: "
          + ", ".join(f"{a / b:.2f}" for a, b in zip(wall[False], wall[True], strict=True))
          + f"); padding efficiency {eff['arrival']:.3f} -> {eff['sorted']:.3f}")
    return ratio


def compare_dtype(model: str, dtype: str, questions: int, max_new_tokens: int,
                  batch_size: int) -> None:
    """Greedy CoT answers (0-shot) on the first ``questions`` dev questions of each task and
    the critic's label log-probabilities over those chains, in float32 and in ``dtype``."""
    from feedback_data.sources.splits import dev_examples
    from feedback_data.text.instructions import error_types_prompt
    from inference.backends import Backend
    from inference.methods import ERROR_LABELS, label_probabilities, run_cot

    runs = {}
    for name in ("float32", dtype):
        backend = Backend.load(model, dtype=name, batch_size=batch_size)
        t0 = time.perf_counter()
        preds, asked = [], []
        for task in ("strategyqa", "sports_understanding"):
            examples = dev_examples(task)[:questions]
            preds += run_cot(backend, examples, task, [], max_new_tokens=max_new_tokens)
            asked += [ex.question for ex in examples]
        rows = backend.score_choices([error_types_prompt(q, p.text) for q, p in
                                      zip(asked, preds, strict=True)], list(ERROR_LABELS))
        runs[name] = preds, rows, time.perf_counter() - t0
        print(f"{name} on {backend.info['device']}: {runs[name][2]:.1f}s")
    (a, ra, _), (b, rb, _) = runs["float32"], runs[dtype]
    dp = [abs(label_probabilities(x)[0] - label_probabilities(y)[0])
          for x, y in zip(ra, rb, strict=True)]
    rel = [abs(u - v) / abs(u) for x, y in zip(ra, rb, strict=True)
           for u, v in zip(x, y, strict=True)]
    print(f"{dtype} vs float32 on {len(a)} dev questions: same answer "
          f"{sum(p.answer == q.answer for p, q in zip(a, b, strict=True))}/{len(a)}, same text "
          f"{sum(p.text == q.text for p, q in zip(a, b, strict=True))}/{len(a)}, "
          f"answered (float32) {sum(p.answer is not None for p in a)}; P(no error) max |diff| "
          f"{max(dp):.2e} (mean {sum(dp) / len(dp):.1e}); label log-probability max relative "
          f"diff {max(rel):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="model folder / RUN_DIR (default: a tiny random T5)")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--w", type=float, default=0.5)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--wsc-batch-rows", type=int, default=None,
                        help="decoder rows per wsc batch (default --batch-size)")
    parser.add_argument("--no-loop", action="store_true",
                        help="skip the plain-loop baseline (the slow part)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--length-only", action="store_true",
                        help="only the length-aware batching comparison")
    parser.add_argument("--repeats", type=int, default=3,
                        help="A/B repeats of the length-aware comparison")
    parser.add_argument("--compare-dtype", default=None,
                        help="only compare this dtype with float32 (answers and critic "
                             "scores on --questions dev questions per task)")
    args = parser.parse_args()

    import torch

    from feedback_data.sources.splits import dev_examples
    from inference.backends import Backend
    from inference.methods import run_cot, run_multitask, run_refine, run_wsc

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.compare_dtype:
        compare_dtype(args.model or str(Path(__file__).resolve().parents[1] / "models"
                                        / "tiny-base"), args.compare_dtype, args.questions,
                      16, args.batch_size)
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.model is None:
            from training.model.tiny_model import build_tiny_t5

            model = str(build_tiny_t5(Path(tmp) / "tiny"))
        else:
            model = args.model
        backend = Backend.load(model, batch_size=args.batch_size)
        pool = dev_examples("strategyqa") + dev_examples("sports_understanding")
        examples = pool[:args.questions]
        print(f"model {model}, {len(examples)} questions, n={args.n}, max_new_tokens="
              f"{args.max_new_tokens}, batch {args.batch_size}, torch threads "
              f"{torch.get_num_threads()}")
        from feedback_data.sources.splits import calibration_items
        from feedback_data.text.instructions import answer_prompt, error_types_prompt

        mixed = [ex for pair in zip(dev_examples("strategyqa"),
                                    dev_examples("sports_understanding"), strict=False)
                 for ex in pair][:args.questions]
        length_aware_ratio(backend, "answer prompts, both tasks interleaved",
                           [answer_prompt(ex.question) for ex in mixed], args.max_new_tokens,
                           args.batch_size, args.repeats)
        length_aware_ratio(backend, "critic prompts, calibration records",
                           [error_types_prompt(i.example.question, i.chain.text)
                            for i in calibration_items()], 16, args.batch_size, args.repeats)
        if args.length_only:
            return
        t0 = time.perf_counter()
        run_cot(backend, examples, "strategyqa", [], max_new_tokens=args.max_new_tokens,
                batch_size=args.batch_size)
        cot = time.perf_counter() - t0
        print(f"greedy cot:     {cot:8.1f}s")
        t0 = time.perf_counter()
        run_wsc(backend, examples, n=args.n, w=args.w, temperature=args.temperature,
                max_new_tokens=args.max_new_tokens, batch_rows=args.wsc_batch_rows)
        batched = time.perf_counter() - t0
        print(f"wsc batched:    {batched:8.1f}s  (wsc / cot questions per second: "
              f"{cot / batched:.3f})")
        if not args.no_loop:
            t0 = time.perf_counter()
            plain_loop_wsc(backend, examples, args.n, args.w, args.temperature,
                           args.max_new_tokens, seed=0)
            loop = time.perf_counter() - t0
            print(f"wsc plain loop: {loop:8.1f}s")
            print(f"speed-up: {loop / batched:.1f}x (target >= 5x)")

        t0 = time.perf_counter()
        start = run_multitask(backend, examples, max_new_tokens=args.max_new_tokens)
        one_pass = time.perf_counter() - t0
        t0 = time.perf_counter()
        preds = run_refine(backend, examples, [p.text for p in start], rounds=args.rounds,
                           max_new_tokens=args.max_new_tokens)
        refine = time.perf_counter() - t0
        mean_rounds = sum(p.meta["rounds"] for p in preds) / len(preds)
        print(f"one batched greedy pass: {one_pass:.1f}s; refine (<= {args.rounds} rounds, "
              f"mean {mean_rounds:.2f}): {refine:.1f}s = {refine / one_pass:.1f}x one pass")


if __name__ == "__main__":
    main()
