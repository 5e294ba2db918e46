#!/usr/bin/env bash
# `make lock`: resolve requirements/*.txt with `uv pip compile` for CPython 3.11 on Linux x86_64,
# torch being the CPU wheel (requirements/torch-cpu.txt). Versions already pinned are kept while
# pyproject.toml still admits them; UPGRADE=1 takes the newest ones it admits.
#   base.txt          the toolkit (make demo)
#   dev.txt           the toolkit with the dev extra: tests, trackers, docs (make test)
#   label-studio.txt  Label Studio's own venv (requirements/label-studio.in)
# Usage: scripts/lock.sh [VENV]   (VENV: where to find or put uv; default .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
uv=$(bash scripts/uv_path.sh "$venv") || { echo "error: make lock needs uv" >&2; exit 1; }
py=$venv/bin/python; [ -x "$py" ] || py=${PYTHON:-python3}
mapfile -t torch_src < <(bash scripts/torch_sources.sh "$py" uv)
common=(--python-version 3.11 --python-platform x86_64-manylinux_2_28 --quiet
        --custom-compile-command "make lock")
[ "${UPGRADE:-0}" = 1 ] && common+=(--upgrade)
# dev first: base is held to dev's versions, so `make demo` runs what `make test` tested.
"$uv" pip compile pyproject.toml --extra dev "${common[@]}" "${torch_src[@]}" \
    --override requirements/torch-cpu.txt -o requirements/dev.txt
"$uv" pip compile pyproject.toml "${common[@]}" "${torch_src[@]}" \
    --override requirements/torch-cpu.txt --constraint requirements/dev.txt \
    -o requirements/base.txt
"$uv" pip compile requirements/label-studio.in "${common[@]}" -o requirements/label-studio.txt
echo "locked: $(grep -c '==' requirements/base.txt) base, $(grep -c '==' requirements/dev.txt)" \
     "dev, $(grep -c '==' requirements/label-studio.txt) label-studio packages"
