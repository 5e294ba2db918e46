#!/usr/bin/env bash
# Pre-train candidate bases for the demo on one GPU, in parallel, and check each.
# Runs `rhf model pretrain-tiny` per variant; every variant writes its base_record.json
# (config, seed, commit, device, time, CoT accuracy on the Sports validation questions and
# both dev sets). The lead picks by the VALIDATION accuracy (never by dev), then ships it.
#   device: carry .whl (pydantic, datasets, dill wheels for the GPU's Python) and .gpucache
#   (BIG-bench task files + the paper's feedback as RHF_CACHE).
set -uo pipefail
OUT=${OUT:-runs/gpu_sweep}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
fi
export PYTHONPATH=${PYTHONPATH:-$PWD} RHF_CACHE=${RHF_CACHE:-$PWD/.gpucache/cache}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.is_available())"
run() {  # name, then pretrain-tiny options
  local name=$1; shift
  timeout "${VARIANT_TIMEOUT:-300}" python3 rhf_cli.py model pretrain-tiny "runs/sweep/$name" "$@" \
    > "runs/sweep/$name.log" 2>&1
  echo "$name exit $?" >> "runs/sweep/status.txt"
}
mkdir -p runs/sweep
rm -f runs/sweep/status.txt
VARIANTS=${VARIANTS:-"v1 v2 v3 v4"}
for v in $VARIANTS; do
  case $v in
    v1) run v1 --size small --epochs 8 --lr 2e-3 & ;;
    v2) run v2 --size tiny --epochs 8 --lr 3e-3 & ;;
    v3) run v3 --size small --epochs 14 --lr 1e-3 & ;;
    v4) run v4 --size small --epochs 10 --lr 3e-3 --batch-size 256 & ;;
    quick) run quick --size tiny --synthetic-sports 200 --strategyqa-repeats 1 --epochs 0.2 & ;;
  esac
done
wait
cat runs/sweep/status.txt
for v in $VARIANTS; do
  echo "== $v"; grep -E "CoT accuracy|pre-trained in|error|Error" "runs/sweep/$v.log" | tail -8
  f=runs/sweep/$v/run/final
  if [ -f "$f/base_record.json" ]; then
    tar -czf "$OUT/$v.tar.gz" -C "$f" model.safetensors config.json generation_config.json \
      tokenizer.json tokenizer_config.json rhf_model.json base_record.json 2>/dev/null \
      || tar -czf "$OUT/$v.tar.gz" -C "$f" .
  fi
  tail -c 3000 "runs/sweep/$v.log" >> "$OUT/logs.txt"
done
ls -la "$OUT"
