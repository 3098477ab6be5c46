#!/usr/bin/env bash
# The README's first command: .venv with the system's python3, andon and its display in it, the demo plant.
# Options go to `andon run` (for example --port 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
make_venv
install_andon display
echo "andon is in .venv: .venv/bin/andon --help; the Pi board as a PNG while the demo runs:"
echo "  .venv/bin/andon display --line line1 --snapshot board.png"
echo "the demo plant follows (http://127.0.0.1:8000 unless --port says otherwise; Ctrl-C stops it)"
exec .venv/bin/andon run config/demo.yaml "$@"
