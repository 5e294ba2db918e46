#!/usr/bin/env bash
# Install time from the lock, pip against uv: for each make target, a fresh clone of COMMIT,
# empty caches (a temporary HOME, XDG_CACHE_HOME, PIP_CACHE_DIR, UV_CACHE_DIR per run), once
# with INSTALLER=pip and once with uv (INSTALLER=auto: uv's own install by pip is counted).
# Prints one line per run and the pip/uv ratio per target. Needs the network (PyPI) and, for
# torch, the wheel folder pip is configured with or PyTorch's CPU index. Not part of
# `make bench`: it takes tens of minutes with pip.
# Usage: scripts/bench_install.sh [COMMIT] [TARGETS...]   (default HEAD; install install-dev
#        label-studio)
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && git rev-parse --path-format=absolute --git-common-dir)
commit=$(git -C "$(dirname "$0")/.." rev-parse "${1:-HEAD}")
shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(install install-dev label-studio)
work=$(mktemp -d /tmp/rhf-bench-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "commit $commit, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A took
for target in "${targets[@]}"; do
    for installer in pip auto; do
        d=$work/$target-$installer
        mkdir -p "$d/home"
        git clone -q "$repo" "$d/clone" && git -C "$d/clone" checkout -q "$commit"
        start=$(date +%s.%N)
        (cd "$d/clone" && env HOME="$d/home" XDG_CACHE_HOME="$d/home/.cache" \
            PIP_CACHE_DIR="$d/home/pip" UV_CACHE_DIR="$d/home/uv" INSTALLER=$installer \
            make -s "$target") > "$d/log" 2>&1
        rc=$?
        took[$target-$installer]=$(echo "$(date +%s.%N) - $start" | bc)
        printf '%-13s %-5s rc=%s %7.1f s  (load %s)\n' "$target" "$installer" "$rc" \
            "${took[$target-$installer]}" "$(cut -d' ' -f1-3 /proc/loadavg)"
        [ "$rc" = 0 ] || tail -5 "$d/log"
        rm -rf "$d"
    done
    printf '%-13s pip / uv = %.1f\n' "$target" \
        "$(echo "${took[$target-pip]} / ${took[$target-auto]}" | bc -l)"
done
