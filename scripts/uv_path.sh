#!/usr/bin/env bash
# Print the path of a uv to use: the system's (on PATH), else VENV/bin/uv, else one pip installs
# into VENV (UV_SPEC, pinned). Prints nothing and exits 1 when there is none (the caller then
# falls back to pip). Usage: scripts/uv_path.sh VENV
set -uo pipefail
venv=${1:?usage: scripts/uv_path.sh VENV}
UV_SPEC=${UV_SPEC:-uv==0.13.9}
if command -v uv >/dev/null 2>&1; then command -v uv; exit 0; fi
if [ -x "$venv/bin/uv" ]; then echo "$venv/bin/uv"; exit 0; fi
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -m pip install -q "$UV_SPEC" >&2 \
        && [ -x "$venv/bin/uv" ]; then
    echo "$venv/bin/uv"; exit 0
fi
exit 1
