#!/usr/bin/env bash
# The GPU measurements of docs/benchmarks.md, in one go on a 2-GPU machine (H100 or H200).
# Writes logs and JSON lines under ${OUT:-/tmp/gptlab-gpu}.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"

#  throughput: plain loop vs gptlab, unpadded and padded vocabulary (issues 9 and 5)
CUDA_VISIBLE_DEVICES=0 timeout 300 python -m gptlab.benchmarks.throughput --micro-batches ${PLAIN_MB:-32} --lightning-micro-batches 32 \
  -- module.compile=true > "$out/bench_unpadded.jsonl" 2> "$out/bench_unpadded.err"
CUDA_VISIBLE_DEVICES=0 timeout 240 python -m gptlab.benchmarks.throughput --skip-plain --lightning-micro-batches 32,48 \
  -- module.compile=true model.vocab_multiple=64 > "$out/bench_padded.jsonl" 2> "$out/bench_padded.err"
cat "$out"/bench_*.jsonl
