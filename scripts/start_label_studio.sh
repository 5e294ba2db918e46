#!/usr/bin/env bash
# Start a local Label Studio for annotation work (Ctrl-C stops it).
#   scripts/start_label_studio.sh [DATA_DIR] [PORT]     (default: runs/label-studio 8080)
# A new data folder gets the admin user LABEL_STUDIO_USERNAME (default admin@rhf.local) with
# password LABEL_STUDIO_PASSWORD and API token LABEL_STUDIO_API_KEY; when unset, random ones
# are written to DATA_DIR/credentials (mode 600), never printed. Reusing a folder needs the
# token it was made with (the preset token applies only when the organisation is created).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR="${1:-runs/label-studio}"
PORT="${2:-8080}"
exec .venv/bin/python -m annotation.server "$DATA_DIR" "$PORT"
