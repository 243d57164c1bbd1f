#!/usr/bin/env bash
# GPU smoke test with its installs: wheels from WHEELS (default .whl/) go to SITE (default /tmp/site) with
# --no-deps — the machine's own torch/transformers/peft/accelerate stay — then benchmarks/gpu_smoke.py runs.
#   benchmarks/gpu_smoke.sh [--quick] [any gpu_smoke.py option]
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS="${WHEELS:-.whl}"
SITE="${SITE:-/tmp/site}"
if ! python3 -c "import trl, datasets, math_verify, pydantic, rich" 2>/dev/null; then
    if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
        python3 -m pip install --quiet --no-deps --no-index --target "$SITE" "$WHEELS"/*.whl
    fi
fi
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
exec python3 benchmarks/gpu_smoke.py "$@"
