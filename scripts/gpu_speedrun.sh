#!/usr/bin/env bash
# One GPU: the speedrun track (python -m gptlab.benchmarks.speedrun) on data=pycode. GPT-2 124M
# with AdamW for B steps sets the target; experiment=speedrun_124m trains its own C steps; each
# over SEEDS seeds, compiled, validated once at its end on the whole validation split.
#   BUDGETS=1200:300 SEEDS=3 bash scripts/gpu_speedrun.sh [train.py overrides]
#   DATA_TOKENS=175000000 BUDGETS=4800:1200 bash scripts/gpu_speedrun.sh   (157M tokens, none twice)
# Output under ${OUT:-/tmp/gptlab-gpu}: track.jsonl, track.md (the table), track.err.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
source "$(dirname "$0")/gpu_pycode.sh"
budgets=()
for budget in ${BUDGETS:-1200:300}; do budgets+=(--budget "$budget"); done
timeout ${SPEEDRUN_TIMEOUT:-560} python -m gptlab.benchmarks.speedrun "${budgets[@]}" \
  --seeds ${SEEDS:-3} --table "$out/track.md" ${SPEEDRUN_ARGS:-} -- paths.data_dir=$data "$@" \
  > "$out/track.jsonl" 2> "$out/track.err"
echo "speedrun exit $?" >> "$out/exits.txt"
cat "$out/exits.txt" "$out/track.md" 2>/dev/null; grep -h '"budget"' "$out/track.jsonl" | cut -c1-400
