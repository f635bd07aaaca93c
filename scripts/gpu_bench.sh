#!/usr/bin/env bash
# One GPU: the GPU-only tests, then `python -m gptlab.benchmarks.throughput` (plain loop vs gptlab, profiled).
# Extra arguments go to the Lightning path as train.py overrides. Output under ${OUT:-/tmp/gptlab-gpu}.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
if [ -z "${SKIP_TESTS:-}" ]; then
  timeout 240 python -m pytest -q -p no:cacheprovider tests/training/test_gpu.py > "$out/test_gpu.log" 2>&1
  echo "test_gpu exit $?" >> "$out/exits.txt"
fi
CUDA_VISIBLE_DEVICES=0 timeout ${BENCH_TIMEOUT:-420} python -m gptlab.benchmarks.throughput --micro-batches ${PLAIN_MB:-32} \
  --lightning-micro-batches ${GPTLAB_MB:-32} --profile-steps 5 ${BENCH_ARGS:-} \
  -- module.compile=true "$@" > "$out/bench.jsonl" 2> "$out/bench.err"
echo "bench exit $?" >> "$out/exits.txt"
cat "$out/exits.txt" "$out/bench.jsonl"; tail -3 "$out/test_gpu.log" 2>/dev/null
