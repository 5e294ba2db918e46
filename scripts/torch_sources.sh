#!/usr/bin/env bash
# Print the options that let uv find the lock's CPU torch wheel (torch==2.13.0+cpu), one per
# line: `--find-links DIR` for each folder pip is configured to look in (pip.conf's find-links
# or PIP_FIND_LINKS: uv reads neither), and, when none of them holds a torch wheel, PyTorch's CPU
# index (TORCH_INDEX). pip reads its own configuration and needs only the index line.
# Usage: scripts/torch_sources.sh PYTHON [uv|pip]
set -uo pipefail
py=${1:?usage: scripts/torch_sources.sh PYTHON [uv|pip]}
who=${2:-uv}
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
links="${PIP_FIND_LINKS:-} $("$py" -m pip config get global.find-links 2>/dev/null || true)"
found=0
declare -A seen=()
for dir in $links; do
    dir=${dir#file://}
    [ -d "$dir" ] && [ -z "${seen[$dir]:-}" ] || continue
    seen[$dir]=1
    [ "$who" = uv ] && printf -- '--find-links\n%s\n' "$dir"
    compgen -G "$dir/torch-*.whl" >/dev/null && found=1
done
if [ "$found" = 0 ]; then printf -- '--extra-index-url\n%s\n' "$TORCH_INDEX"; fi
