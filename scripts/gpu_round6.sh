#!/usr/bin/env bash
# What round 5 could not run on a GPU, in one call (about 9 minutes on one H200): the GPU-only
# tests (no host sync with the progress line on, Muon, the new per-step seeding), then three
# rounds of the plain loop against gptlab, then compiled GPT-2 124M under Muon against AdamW
# (the batched Muon step has only been timed eagerly). Output under ${OUT:-/tmp/gptlab-gpu}.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
rm -rf /tmp/gptlab-bench-*
timeout 200 python -m pytest -q -p no:cacheprovider tests/training/test_gpu.py > "$out/test_gpu.log" 2>&1
echo "test_gpu exit $?" >> "$out/exits.txt"
CUDA_VISIBLE_DEVICES=0 timeout ${BENCH_TIMEOUT:-200} python -m gptlab.benchmarks.throughput \
  --micro-batches 32 --lightning-micro-batches 32 --repeats 3 -- module.compile=true \
  > "$out/bench.jsonl" 2> "$out/bench.err"
echo "bench exit $?" >> "$out/exits.txt"
CUDA_VISIBLE_DEVICES=0 timeout ${MUON_TIMEOUT:-150} python -m gptlab.benchmarks.throughput --skip-plain \
  --lightning-micro-batches 32 --variant "muon=optim=muon" -- module.compile=true \
  > "$out/muon.jsonl" 2> "$out/muon.err"
echo "muon exit $?" >> "$out/exits.txt"
cat "$out/exits.txt"; grep -h '"ratio\|"name": "gptlab' "$out/bench.jsonl" "$out/muon.jsonl" | cut -c1-300
tail -3 "$out/test_gpu.log"
