#!/usr/bin/env bash
# Round 4 on one GPU. Part "bench": the GPU-only tests (no host sync at logging steps included),
# then the plain loop against gptlab at the default logging interval, with cuDNN attention and
# logging every 50 as variants. Part "eval": the cost of a HellaSwag pass for gpt2_124m, and the
# time from SIGTERM to exit of a gpt2_124m run. Part "float8": torchao's FP8 layers against the
# same run without them. Output under ${OUT:-/tmp/gptlab-gpu}.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
rm -rf /tmp/gptlab-bench-* /tmp/gptlab-preempt-*
case "${1:-bench}" in
  bench)
    timeout 200 python -m pytest -q -p no:cacheprovider tests/training/test_gpu.py > "$out/test_gpu.log" 2>&1
    echo "test_gpu exit $?" >> "$out/exits.txt"
    CUDA_VISIBLE_DEVICES=0 timeout ${BENCH_TIMEOUT:-360} python -m gptlab.benchmarks.throughput \
      --micro-batches 32 --lightning-micro-batches 32 \
      --variant "cudnn=module.attention=cudnn" --variant "log50=trainer.log_every_n_steps=50" \
      -- module.compile=true > "$out/bench.jsonl" 2> "$out/bench.err"
    echo "bench exit $?" >> "$out/exits.txt"
    cat "$out/exits.txt" "$out/bench.jsonl"; tail -3 "$out/test_gpu.log"
    ;;
  float8)  # torchao's FP8 linear layers (pip install torchao; bash ../shared/device/wheels.sh torchao)
    CUDA_VISIBLE_DEVICES=0 timeout ${BENCH_TIMEOUT:-540} python -m gptlab.benchmarks.throughput \
      --micro-batches 32 --lightning-micro-batches 32 --steps 50 \
      --variant "pad64=model.vocab_multiple=64" \
      --variant "fp8_tensorwise=module.float8=tensorwise;model.vocab_multiple=64" \
      -- module.compile=true > "$out/bench_float8.jsonl" 2> "$out/bench_float8.err"
    echo "bench_float8 exit $?" >> "$out/exits.txt"
    cat "$out/exits.txt" "$out/bench_float8.jsonl"; grep -i "error\|float8" "$out/bench_float8.err" | tail -5
    ;;
  eval)
    timeout 240 python -m gptlab.benchmarks.evaluation --batch-sizes 16,64 > "$out/hellaswag.jsonl" 2> "$out/hellaswag.err"
    echo "hellaswag exit $?" >> "$out/exits.txt"
    timeout 300 python -m gptlab.benchmarks.preemption --repeats 3 -- module.compile=false \
      trainer.log_every_n_steps=10 callbacks.last_checkpoint.every_n_train_steps=100 > "$out/preemption.jsonl" 2> "$out/preemption.err"
    echo "preemption exit $?" >> "$out/exits.txt"
    cat "$out/exits.txt" "$out/hellaswag.jsonl" "$out/preemption.jsonl"; tail -5 "$out/hellaswag.err"
    ;;
esac
