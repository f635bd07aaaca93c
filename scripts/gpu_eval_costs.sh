#!/usr/bin/env bash
# One GPU: what evaluating and stopping cost a GPT-2 124M run: one HellaSwag pass
# (python -m gptlab.benchmarks.evaluation) and the time from SIGTERM to exit with last.ckpt saved
# (python -m gptlab.benchmarks.preemption). Output under ${OUT:-/tmp/gptlab-gpu}.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
timeout 240 python -m gptlab.benchmarks.evaluation --batch-sizes 16,64 > "$out/hellaswag.jsonl" 2> "$out/hellaswag.err"
echo "hellaswag exit $?" >> "$out/exits.txt"
timeout 300 python -m gptlab.benchmarks.preemption --repeats 3 -- kernels.compile=false \
  trainer.log_every_n_steps=10 callbacks.last_checkpoint.every_n_train_steps=100 > "$out/preemption.jsonl" 2> "$out/preemption.err"
echo "preemption exit $?" >> "$out/exits.txt"
cat "$out/exits.txt" "$out/hellaswag.jsonl" "$out/preemption.jsonl"
