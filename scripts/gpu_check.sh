#!/usr/bin/env bash
# GPU check, under 6 minutes on one H100/H200, no network:
#   1. training: a flan-t5-large-sized T5 (random weights) over the paper's multitask pairs
#      (two epochs, timed after five warm-up steps),
#      ours (bf16 weights, fused AdamW, token budget) against Seq2SeqTrainer (bf16 autocast),
#      each at the largest size that fits 60 GB: real tokens/s, MFU, their ratio; a
#      non-finite loss fails the part;
#   2. inference: questions/s of greedy cot and wsc (n = 8, at 256 and 2048 decoder rows per
#      batch), and the best wsc over cot (target >= 0.35).
#   bash scripts/gpu_check.sh        # writes runs/gpu_check/{train,infer}.{json,log}, table.md
# Needs beyond torch + transformers (and their own dependencies: safetensors, tokenizers,
# numpy, tqdm, pyyaml): accelerate (+ psutil) and pydantic (+ pydantic-core,
# annotated-types, typing-inspection); checked first. The lent H200 box (python 3.12, torch
# 2.11+cu130, transformers 5.17, accelerate 1.15) lacks pydantic: carry its cp312 wheels. No
# network: the data must be in the rhf cache (RHF_CACHE), or ../shared/data (carried as
# shared/) holds the task data and the paper's feedback (RHF_DATA_DIR / RHF_FEEDBACK_SOURCE).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_check}
TRAIN_TIMEOUT=${TRAIN_TIMEOUT:-240}
INFER_TIMEOUT=${INFER_TIMEOUT:-90}
mkdir -p "$OUT"
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TOKENIZERS_PARALLELISM=false
for shared in "$(cd .. && pwd)/shared/data" "$PWD/shared/data"; do
    [ -d "$shared" ] || continue
    export RHF_FEEDBACK_SOURCE="${RHF_FEEDBACK_SOURCE:-$shared/rich-feedback-reasoning}"
    export RHF_DATA_DIR="${RHF_DATA_DIR:-$shared:$shared/bigbench-tasks}"
    export RHF_BIGBENCH_URL="${RHF_BIGBENCH_URL:-off}" RHF_STRATEGYQA_URL="${RHF_STRATEGYQA_URL:-off}"
done
# Packages the GPU box lacks may come as a folder of copies (searched after its own).
[ -d "${RHF_VENDOR:-runs/gpu_vendor}" ] && export PYTHONPATH="$PYTHONPATH:$PWD/${RHF_VENDOR:-runs/gpu_vendor}"
say() { echo "[gpu_check $(date +%H:%M:%S)] $*"; }
status=0

say "1/4 environment"
"$PY" - <<'PY'
import importlib, sys
import torch
missing = []
for name in ("transformers", "accelerate", "psutil", "safetensors", "tokenizers", "yaml",
             "tqdm", "numpy", "pydantic"):
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001
        missing.append(f"{name} ({type(exc).__name__})")
if missing:
    sys.exit("gpu_check: missing imports: " + ", ".join(missing))
if not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA device")
print("device:", torch.cuda.get_device_name(0), "| torch", torch.__version__)
PY

say "2/4 data (from the local cache / RHF_DATA_DIR / RHF_FEEDBACK_SOURCE, no network)"
"$PY" -c "
from feedback_data.sources.fetch import fetch_bigbench, fetch_feedback
from feedback_data.records.store import import_paper_feedback
fetch_bigbench(); fetch_feedback(); import_paper_feedback()"

say "3/4 training benchmark (at most ${TRAIN_TIMEOUT}s)"
if ! timeout "$TRAIN_TIMEOUT" "$PY" scripts/bench_train.py --gpu-only --json "$OUT/train.json" \
        2>&1 | tee "$OUT/train.log"; then
    say "training benchmark FAILED (see $OUT/train.log)"; status=1
fi

say "4/4 inference check (at most ${INFER_TIMEOUT}s)"
if ! timeout "$INFER_TIMEOUT" "$PY" scripts/gpu_infer_check.py --json "$OUT/infer.json" \
        2>&1 | tee "$OUT/infer.log"; then
    say "inference check FAILED (see $OUT/infer.log)"; status=1
fi

"$PY" - "$OUT" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
read = lambda n: json.loads((out / n).read_text()) if (out / n).exists() else {}
t, i = read("train.json").get("gpu", {}), read("infer.json")
lines = [f"GPU check on {t.get('device') or i.get('device', '?')}", ""]
if t:
    lines += [f"Training: flan-t5-large-sized T5, random weights, {t['pairs']} multitask pairs, "
              f"{t.get('epochs', 1)} epochs each, timed after {t.get('timed_after_steps', 0)} "
              f"warm-up steps, memory budget {t['memory_budget_gib']} GB, bf16 matmul "
              f"{t['bf16_matmul_tflops']} TFLOP/s", "",
              "| trainer | size | examples/s | real tokens/s | MFU | peak GiB | alloc retries |",
              "|---|---|---|---|---|---|---|"]
    for r in (t["ours"], t["seq2seqtrainer"]):
        lines.append(f"| {r['trainer']} | {r['size']} | {r['examples_per_s']} | "
                     f"{r['real_tokens_per_s']} | {r['mfu']:.1%} | {r['peak_gib']} | "
                     f"{r.get('alloc_retries', '?')} |")
    lines += ["", f"ours / Seq2SeqTrainer real tokens/s: {t['tokens_per_s_ratio_ours_over_hf']}x "
              "(goal >= 3x); ours MFU goal >= 35%", ""]
else:
    lines += ["Training: FAILED (see train.log)", ""]
if i:
    lines += ["| inference | questions/s |", "|---|---|"]
    lines += [f"| {k} | {v['questions_per_s']:.2f} |" for k, v in i.items() if isinstance(v, dict)]
    lines += ["", f"{i.get('best_wsc', 'wsc')} / cot: {i['wsc_over_cot']} (target >= 0.35)"]
else:
    lines += ["Inference: FAILED (see infer.log)"]
(out / "table.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
say "done (status $status); table in $OUT/table.md"
exit $status
