#!/usr/bin/env bash
# The seventh round of docs/benchmarks.md on one H200: Liger-Kernel's cross-entropy behind
# module.loss_kernel (auto picks it on GPUs where liger-kernel is installed). Needs .whl/ from
# `bash ../shared/device/wheels.sh` plus `pip download --no-deps liger-kernel==0.8.5 -d .whl` (given
# as an argument to wheels.sh it also fetches torch's CUDA libraries, 2.9 GB). Output under
# ${OUT:-/tmp/gptlab-gpu}.
#   part "a": the output layer + cross-entropy alone per way, two bench rounds (plain loop,
#             gptlab's default, gptlab with the compiled loss)
#   part "b": validation loss after equal tokens, compiled loss against Liger's; the GPU tests of
#             the loss and of no host sync (default path, so Liger's kernel)
#   part "c": one more bench round with a kernel profile
#   part "sweep": Liger's kernel alone at each launch setting, and inside the op
#   part "bench": two bench rounds of the final code (plain loop against gptlab's default)
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
data=${DATA_DIR:-/tmp/gptlab-data}
bench() {  # $1: rounds, $2: file name, then extra arguments
  local rounds=$1 name=$2; shift 2
  rm -rf /tmp/gptlab-bench-*
  CUDA_VISIBLE_DEVICES=0 timeout ${BENCH_TIMEOUT:-300} python -m gptlab.benchmarks.throughput \
    --micro-batches 32 --lightning-micro-batches 32 --repeats "$rounds" "$@" \
    --variant "compiled_loss=module.loss_kernel=compiled" -- module.compile=true \
    > "$out/$name.jsonl" 2>> "$out/errors.log"
  echo "bench exit $?" >> "$out/exits.txt"
  grep -h '"ratio\|"name": "gptlab\|plain_loop' "$out/$name.jsonl" | cut -c1-260
}
case "${1:-a}" in
  a)
    python -c "import liger_kernel, triton; print('liger ok, triton', triton.__version__)"
    timeout 100 python -m gptlab.benchmarks.loss --ways compiled,liger,liger_chunks_8192,liger_chunks_4096,torch_chunks_4096 \
      > "$out/loss.jsonl" 2>> "$out/errors.log"
    echo "loss exit $?" >> "$out/exits.txt"; cat "$out/loss.jsonl"
    BENCH_TIMEOUT=${BENCH_TIMEOUT:-330} bench 2 bench_a
    cat "$out/exits.txt"; grep -i "error" "$out/errors.log" | tail -5
    ;;
  b)
    python -m gptlab prepare data=pycode paths.data_dir=$data data.source.max_tokens=20000000 \
      hydra.run.dir=/tmp/gptlab-prepare > "$out/prepare.log" 2>&1
    echo "prepare exit $?" >> "$out/exits.txt"
    timeout ${NUMERICS_TIMEOUT:-240} python -m gptlab.benchmarks.numerics --steps 200 --only liger_loss -- \
      data=pycode paths.data_dir=$data data.batch_size=32 trainer.limit_val_batches=32 \
      trainer.log_every_n_steps=25 > "$out/numerics.jsonl" 2>> "$out/errors.log"
    echo "numerics exit $?" >> "$out/exits.txt"; cut -c1-300 "$out/numerics.jsonl"
    timeout 180 python -m pytest -q -p no:cacheprovider tests/training/test_gpu.py \
      -k "liger or do_not_wait" > "$out/test_gpu.log" 2>&1
    echo "test_gpu exit $?" >> "$out/exits.txt"; tail -3 "$out/test_gpu.log"
    cat "$out/exits.txt"; grep -i "error" "$out/errors.log" | tail -5
    ;;
  sweep)
    timeout 200 python -m gptlab.benchmarks.loss --sweep --repeats 10
    timeout 150 python -m gptlab.benchmarks.loss --ways liger --profile --repeats 20 \
      --launches 8192x4,8192x8,4096x4,4096x8,4096x16,16384x8,16384x16,32768x32,2048x4,8192x2
    ;;
  bench)
    rm -rf /tmp/gptlab-bench-*
    CUDA_VISIBLE_DEVICES=0 timeout 280 python -m gptlab.benchmarks.throughput --micro-batches 32 \
      --lightning-micro-batches 32 --repeats 2 -- module.compile=true > "$out/bench_f.jsonl" 2>> "$out/errors.log"
    grep -h '"ratio\|"name": "gptlab\|plain_loop' "$out/bench_f.jsonl" | cut -c1-260
    ;;
  c)
    BENCH_TIMEOUT=${BENCH_TIMEOUT:-250} bench 1 bench_c --profile-steps 5
    cat "$out/exits.txt"; grep -i "error" "$out/errors.log" | tail -5
    ;;
esac
