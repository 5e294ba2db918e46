"""GPU inference check: questions per second of cot and wsc (n = 8) on a flan-t5-large-sized
model (random weights from its config, bf16). Run by scripts/gpu_check.sh; needs CUDA.

Random weights rarely emit EOS, so every chain runs to --max-new-tokens: a worst case.
The tokenizer is the project's tiny BPE (no download); its ids fit the 32,128-entry vocabulary.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--wsc-batch-rows", type=int, nargs="*", default=None,
                        help="decoder rows per wsc batch to try (default: --batch-size and "
                             "--batch-size x n)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--smoke", action="store_true",
                        help="run the same code on CPU with a small T5 and few questions "
                             "(checks the script; not a measurement)")
    args = parser.parse_args()

    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from feedback_data.sources.splits import dev_examples
    from feedback_data.tasks.prompts import default_shots
    from inference.backends import Backend
    from inference.methods import run_cot, run_wsc
    from training.model.tiny_model import FLAN_T5_LARGE, build_tokenizer

    if not args.smoke and not torch.cuda.is_available():
        sys.exit("gpu_infer_check: no CUDA device")
    device = "cpu" if args.smoke else "cuda"
    sync = (lambda: None) if args.smoke else torch.cuda.synchronize
    sizes = dict(d_model=64, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=2,
                 d_kv=32) if args.smoke else {}
    if args.smoke:
        args.questions, args.max_new_tokens = min(args.questions, 8), min(args.max_new_tokens, 8)
    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(**{**FLAN_T5_LARGE, **sizes})).to(
        device, torch.bfloat16)
    model.eval()
    with tempfile.TemporaryDirectory():
        backend = Backend(model=model, tokenizer=tokenizer, name="flan-t5-large-config",
                          is_encoder_decoder=True, batch_size=args.batch_size,
                          dtype="bfloat16")
        examples = dev_examples("strategyqa")[:args.questions]
        shots = default_shots("strategyqa", args.k)
        run_cot(backend, examples[:8], "strategyqa", shots, max_new_tokens=8)  # warm-up
        rows = {}
        wsc_rows = args.wsc_batch_rows or [args.batch_size, args.batch_size * args.n]
        runs = [("cot", lambda: run_cot(backend, examples, "strategyqa", shots,
                                        max_new_tokens=args.max_new_tokens,
                                        batch_size=args.batch_size))]
        for r in wsc_rows:
            runs.append((f"wsc n={args.n} rows={r}", lambda r=r: run_wsc(
                backend, examples, n=args.n, w=0.5, temperature=0.7, seed=0,
                max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                batch_rows=r)))
        for name, fn in runs:
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            seconds = time.perf_counter() - t0
            rows[name] = {"questions": len(examples), "seconds": seconds,
                          "questions_per_s": len(examples) / seconds}
            print(f"{name:<10} {len(examples)} questions in {seconds:.1f} s: "
                  f"{len(examples) / seconds:.2f} questions/s", flush=True)
    best = max((k for k in rows if k.startswith("wsc")), key=lambda k: rows[k]["questions_per_s"])
    ratio = rows[best]["questions_per_s"] / rows["cot"]["questions_per_s"]
    print(f"{best} / greedy cot questions per second: {ratio:.3f} (target >= 0.35)")
    result = {"device": "cpu (smoke)" if args.smoke else torch.cuda.get_device_name(0),
              "model": "small T5 (smoke)" if args.smoke else "flan-t5-large config, bf16",
              "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size, **rows,
              "best_wsc": best, "wsc_over_cot": round(ratio, 3)}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
