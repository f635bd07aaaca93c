#!/usr/bin/env bash
# Round 5 on one GPU. Part "bench": three rounds of the plain loop (with and without its clipping
# inside fused AdamW) against gptlab at the default logging interval and with cuDNN attention, each
# ratio against the plain loop of its own round. Part "numerics": validation loss after equal
# tokens of the default path (two seeds), cuDNN attention and FP8 (torchao) on the offline corpus
# (data=pycode). Part "checks": the GPU-only tests, and eager steps with and without validation
# every 10 steps (docs/benchmarks.md: the hidden checkpoint per validation), and Inductor's
# coordinate-descent tuning against the default compile. Output under ${OUT:-/tmp/gptlab-gpu}.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
rm -rf /tmp/gptlab-bench-*
case "${1:-bench}" in
  bench)
    CUDA_VISIBLE_DEVICES=0 timeout ${BENCH_TIMEOUT:-540} python -m gptlab.benchmarks.throughput \
      --micro-batches 32 --lightning-micro-batches 32 --repeats ${REPEATS:-3} --plain-clip-in-step \
      --variant "cudnn=module.attention=cudnn" -- module.compile=true > "$out/bench.jsonl" 2> "$out/bench.err"
    echo "bench exit $?" >> "$out/exits.txt"
    cat "$out/exits.txt"; grep -v '"profile"' "$out/bench.jsonl"; grep -i "error" "$out/bench.err" | tail -5
    ;;
  numerics)
    data=${DATA_DIR:-/tmp/gptlab-data}
    python -m gptlab prepare data=pycode paths.data_dir=$data data.source.max_tokens=60000000 \
      hydra.run.dir=/tmp/gptlab-prepare > "$out/prepare.log" 2>&1
    echo "prepare exit $?" >> "$out/exits.txt"
    timeout ${NUMERICS_TIMEOUT:-520} python -m gptlab.benchmarks.numerics --steps ${STEPS:-200} -- \
      data=pycode paths.data_dir=$data data.batch_size=32 trainer.limit_val_batches=32 \
      trainer.log_every_n_steps=25 > "$out/numerics.jsonl" 2> "$out/numerics.err"
    echo "numerics exit $?" >> "$out/exits.txt"
    cat "$out/exits.txt" "$out/numerics.jsonl"; grep -i "error\|float8" "$out/numerics.err" | tail -5
    ;;
  checks)
    timeout 240 python -m pytest -q -p no:cacheprovider tests/training/test_gpu.py > "$out/test_gpu.log" 2>&1
    echo "test_gpu exit $?" >> "$out/exits.txt"
    CUDA_VISIBLE_DEVICES=0 timeout 240 python -m gptlab.benchmarks.throughput --skip-plain \
      --lightning-micro-batches 32 \
      --variant "val10=trainer.val_check_interval=10;trainer.limit_val_batches=8" \
      -- module.compile=false > "$out/eager_val.jsonl" 2> "$out/eager_val.err"
    echo "eager_val exit $?" >> "$out/exits.txt"
    CUDA_VISIBLE_DEVICES=0 timeout ${CDT_TIMEOUT:-330} python -m gptlab.benchmarks.throughput \
      --micro-batches 32 --lightning-micro-batches 32 --repeats 2 \
      --variant "cdt=module.compile_options={coordinate_descent_tuning: true}" \
      -- module.compile=true > "$out/bench_cdt.jsonl" 2> "$out/bench_cdt.err"
    echo "bench_cdt exit $?" >> "$out/exits.txt"
    cat "$out/exits.txt" "$out/eager_val.jsonl" "$out/bench_cdt.jsonl"; tail -3 "$out/test_gpu.log"
    ;;
  speedrun)  # the third round's second speedrun call again, without the hidden checkpoints
    data=${DATA_DIR:-/tmp/gptlab-data}
    python -m gptlab prepare data=pycode paths.data_dir=$data data.source.max_tokens=60000000 \
      hydra.run.dir=/tmp/gptlab-prepare > "$out/prepare.log" 2>&1
    gpt2="model=gpt2_124m;model.drop_rate=0.0"
    timeout ${SPEEDRUN_TIMEOUT:-400} python -m gptlab.benchmarks.speedrun --baseline-steps 300 \
      --val-every 10 --max-factor 1.0 --candidate "muon_lr0.02=$gpt2;optim=muon" \
      --candidate "speedrun_124m=experiment=speedrun_124m" -- \
      data=pycode paths.data_dir=$data data.batch_size=32 trainer.limit_val_batches=32 \
      trainer.log_every_n_steps=10 module.compile=false > "$out/speedrun.jsonl" 2> "$out/speedrun.err"
    echo "speedrun exit $?" >> "$out/exits.txt"
    cat "$out/exits.txt" "$out/speedrun.jsonl"
    ;;
esac
