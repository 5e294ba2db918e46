#!/usr/bin/env bash
# GPU check (under 8 minutes on one H100): the training benchmark on a flan-t5-large-sized
# model (random weights, bf16: tokens/s and MFU against the measured bf16 matmul rate) and
# batched inference (questions/s for cot and wsc with n = 8). No network needed.
#   bash scripts/gpu_check.sh            # writes runs/gpu_check/{train,infer}.json and table.md
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_check}
mkdir -p "$OUT"
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export RHF_FEEDBACK_SOURCE="${RHF_FEEDBACK_SOURCE:-$(cd .. && pwd)/shared/data/rich-feedback-reasoning}"
"$PY" - <<'PY'
import torch, sys
if not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA device")
print("device:", torch.cuda.get_device_name(0), "| torch", torch.__version__)
PY
"$PY" -c "
from feedback_data.fetch import fetch_bigbench, fetch_feedback
from feedback_data.store import import_paper_feedback
fetch_bigbench(); fetch_feedback(); import_paper_feedback()"
timeout 300 "$PY" scripts/bench_train.py --gpu --gpu-only --json "$OUT/train.json" | tee "$OUT/train.log"
timeout 200 "$PY" scripts/gpu_infer_check.py --json "$OUT/infer.json" | tee "$OUT/infer.log"
"$PY" - "$OUT" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
t = json.loads((out / "train.json").read_text()).get("gpu", {})
i = json.loads((out / "infer.json").read_text())
lines = [f"GPU check on {i['device']} ({i['model']})", "",
         "| measure | value |", "|---|---|"]
for k, v in t.items():
    if isinstance(v, (int, float, str)):
        lines.append(f"| train {k} | {v} |")
for name in [k for k in i if isinstance(i[k], dict)]:
    lines.append(f"| infer {name} questions/s | {i[name]['questions_per_s']:.2f} |")
(out / "table.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
