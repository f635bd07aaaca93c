#!/usr/bin/env bash
# One GPU: gptlab's training step against a plain compiled PyTorch loop over the same model
# (python -m gptlab bench), REPEATS times, each ratio against the plain loop of its own repeat;
# the padded vocabulary and the compiled loss as variants. Extra arguments go to the gptlab runs
# as train.py overrides. Output under ${OUT:-/tmp/gptlab-gpu}.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
rm -rf /tmp/gptlab-bench-*
CUDA_VISIBLE_DEVICES=0 timeout ${BENCH_TIMEOUT:-420} python -m gptlab.benchmarks.throughput \
  --micro-batches ${PLAIN_MB:-32} --lightning-micro-batches ${GPTLAB_MB:-32} --repeats ${REPEATS:-2} \
  ${BENCH_ARGS:-} -- kernels.compile=true "$@" > "$out/bench.jsonl" 2> "$out/bench.err"
echo "bench exit $?" >> "$out/exits.txt"
cat "$out/exits.txt"; grep -h '"ratio\|"name": "gptlab\|plain_loop\|device' "$out/bench.jsonl" | cut -c1-300
