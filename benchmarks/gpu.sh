#!/usr/bin/env bash
# Every stock-TRL-vs-align benchmark within one time budget, the results table printed last.
#
#   bash benchmarks/gpu.sh [--quick] [--budget SECONDS]   (or BENCH_BUDGET_S=SECONDS; default 280, quick 240)
#
# Full mode needs a GPU (Qwen2.5 shapes, bf16); --quick runs the tiny-model suite on CPU (`make bench`), so a GPU
# run cannot fail on a typo. Each script gets a share of what is left and stops its own steps at its deadline; a
# script past its share + 30 s is killed, and whatever rows finished are still in the table.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
BUDGET=${BENCH_BUDGET_S:-}
MODE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE="--quick" ;;
    --budget) BUDGET="$2"; shift ;;
    *) echo "error: unknown option $1 (use --quick, --budget SECONDS)" >&2; exit 2 ;;
  esac
  shift
done
BUDGET=${BUDGET:-$([ -n "$MODE" ] && echo 240 || echo 280)}
if ! $PYTHON -c "import torch, transformers, trl, peft, datasets" 2>/dev/null; then
  echo "error: $PYTHON cannot import torch, transformers, trl, peft and datasets (set PYTHONPATH or PYTHON)" >&2
  exit 2
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false TRL_EXPERIMENTAL_SILENCE=1
results=${BENCH_RESULTS:-$(mktemp /tmp/align-bench.XXXXXX.jsonl)}  # one JSON line per row
start=$(date +%s)

# run SCRIPT SHARE: SHARE is the script's part of the budget in percent; it never gets more than what is left.
run() {
  local script=$1 share=$2 left alloc
  left=$((BUDGET - ($(date +%s) - start) - 10))  # ~10 s: interpreter start and imports, outside a script's clock
  alloc=$((BUDGET * share / 100))
  [ "$alloc" -gt "$left" ] && alloc=$left
  if [ "$alloc" -lt 15 ]; then
    echo "[$script] skipped: ${left} s of the ${BUDGET} s budget left"
    return
  fi
  echo "== benchmarks/$script.py $MODE --budget $alloc"
  timeout --kill-after=5 $((alloc + 30)) "$PYTHON" "benchmarks/$script.py" $MODE --budget "$alloc" --results "$results" \
    2>&1 | grep --line-buffered -E "^\[(grpo|generate|sft|dpo)\]|Error|error:" || true
}

# GRPO first: generation is the largest cost and the largest target (perf.md).
run grpo 30
run generate 25
run sft 22
run dpo 100
echo
echo "== results ($(( $(date +%s) - start )) s of a ${BUDGET} s budget)"
"$PYTHON" benchmarks/table.py "$results"
echo "(rows as JSON lines: $results)"
