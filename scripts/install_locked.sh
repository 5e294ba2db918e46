#!/usr/bin/env bash
# Install the toolkit into VENV from the lock, requirements/NAME.txt (NAME: base, dev or
# label-studio), with uv (the system's, or one pip puts into VENV), falling back to pip with the
# same lock when uv is unavailable or fails. The toolkit itself goes in editable, without
# dependencies (everything it needs is in the lock), except for NAME=label-studio.
#
#   TORCH_SPEC  empty (default): the lock's torch, the CPU wheel torch==2.13.0+cpu. Set, e.g.
#               "torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128", it is
#               installed first and the lock's torch line is left out.
#   LOCKED=0    ignore the lock: pip installs TORCH_SPEC (default torch==2.13.0), then the
#               ranges of pyproject.toml (for a platform the lock was not made for).
#   INSTALLER   auto (default: uv when it can be had, else pip), uv, or pip.
#   PYTHON      the interpreter that creates VENV (default python3).
# Usage: scripts/install_locked.sh VENV NAME
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:?usage: scripts/install_locked.sh VENV NAME}
name=${2:?usage: scripts/install_locked.sh VENV NAME}
lock=requirements/$name.txt
py=$venv/bin/python
test -x "$py" || "${PYTHON:-python3}" -m venv "$venv"
[ -f "$lock" ] || { echo "error: $lock not found (run make lock)" >&2; exit 1; }
say() { echo "[install] $*" >&2; }

if [ "$name" = label-studio ]; then self=(); else self=(--no-deps -e .); fi
if [ "${LOCKED:-1}" = 0 ]; then
    say "LOCKED=0: pip, from pyproject.toml's ranges (not the lock)"
    if [ "$name" = label-studio ]; then
        exec "$py" -m pip install -q "$(grep -v '^#' requirements/label-studio.in | head -1)"
    fi
    # shellcheck disable=SC2086
    "$py" -m pip install -q ${TORCH_SPEC:-torch==2.13.0}
    extra=""; [ "$name" = dev ] && extra="[dev]"
    exec "$py" -m pip install -q -e ".$extra"
fi

reqs=$lock
if [ -n "${TORCH_SPEC:-}" ]; then
    reqs=$venv/.lock-$name-without-torch.txt
    grep -v '^torch==' "$lock" > "$reqs"
fi
mapfile -t uv_torch < <(bash scripts/torch_sources.sh "$py" uv)
mapfile -t pip_torch < <(bash scripts/torch_sources.sh "$py" pip)

installer=${INSTALLER:-auto}
if [ "$installer" != pip ] && uv=$(bash scripts/uv_path.sh "$venv"); then
    say "uv ($uv): $lock"
    # shellcheck disable=SC2086
    if { [ -z "${TORCH_SPEC:-}" ] || "$uv" pip install --python "$py" ${TORCH_SPEC}; } \
        && "$uv" pip install --python "$py" "${uv_torch[@]}" -r "$reqs" \
        && { [ ${#self[@]} -eq 0 ] || "$uv" pip install --python "$py" "${self[@]}"; }; then
        exit 0
    fi
    [ "$installer" = uv ] && { say "error: uv failed (INSTALLER=uv)"; exit 1; }
    say "uv failed; installing the same lock with pip"
elif [ "$installer" = uv ]; then
    say "error: no uv (INSTALLER=uv)"; exit 1
elif [ "$installer" = auto ]; then
    say "no uv (none on PATH, and pip could not install ${UV_SPEC:-uv}); pip: $lock"
fi
# shellcheck disable=SC2086
[ -z "${TORCH_SPEC:-}" ] || "$py" -m pip install -q ${TORCH_SPEC}
"$py" -m pip install -q "${pip_torch[@]}" -r "$reqs"
[ ${#self[@]} -eq 0 ] || "$py" -m pip install -q "${self[@]}"
