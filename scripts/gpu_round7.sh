#!/usr/bin/env bash
# Round 7 on one H200: FlashAttention-4 behind module.attention=fa4. Its CUTLASS DSL runtime (a 92
# MB wheel, 60.6 MiB as tar.xz) is larger than one device call can carry beside the project's wheels,
# so it travels in two parts over two back-to-back calls of the same warm machine:
#   part "stage"  (call 1): keeps .fa4a/ (part one) on the machine, prepares the offline corpus
#   part "fa4"    (call 2): joins .fa4b/ (part two) to it, installs FA4 into /tmp/fa4site, then
#                 the attention kernels alone, the GPU test of FA4 against PyTorch's flash kernel,
#                 one bench round (plain loop with and without FA4, gptlab with PyTorch's kernel,
#                 FA4 and cuDNN)
#   part "more"   (call 3): the validation loss after equal tokens for the three kernels, and one
#                 more bench round
# flash-attn-4 is 4.0.0b18, the newest release whose forward returns (out, lse) as PyTorch's glue
# expects (4.0.0b36 failed in the first call). Output under ${OUT:-/tmp/gptlab-gpu}.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
data=${DATA_DIR:-/tmp/gptlab-data}
parts=/root/fa4parts
fa4_env() {
  export PYTHONPATH=$PYTHONPATH:/tmp/fa4site:/tmp/fa4site/nvidia_cutlass_dsl/dsl_packages
}
bench() {  # $1: rounds
  rm -rf /tmp/gptlab-bench-*
  CUDA_VISIBLE_DEVICES=0 timeout ${BENCH_TIMEOUT:-300} python -m gptlab.benchmarks.throughput \
    --micro-batches 32 --lightning-micro-batches 32 --repeats "$1" --plain-attention fa4 \
    --variant "fa4=module.attention=fa4" --variant "cudnn=module.attention=cudnn" -- module.compile=true \
    > "$out/bench_fa4.jsonl" 2>> "$out/errors.log"
  echo "bench exit $?" >> "$out/exits.txt"
}
case "${1:-fa4}" in
  stage)
    mkdir -p $parts && cp .fa4a/* $parts/ && ls -la $parts >> "$out/exits.txt"
    python -m gptlab prepare data=pycode paths.data_dir=$data data.source.max_tokens=60000000 \
      hydra.run.dir=/tmp/gptlab-prepare > "$out/prepare.log" 2>&1
    echo "prepare exit $?" >> "$out/exits.txt"; cat "$out/exits.txt"
    ;;
  fa4)
    [ -d .whl/site ] && ls $parts/part_a* > /dev/null || { echo "part one or .whl/site is gone: the machine is fresh"; exit 3; }
    mkdir -p /tmp/fa4site
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/fa4site .fa4b/*.whl
    cat $parts/part_a* .fa4b/part_b* | xz -d | tar x -C /tmp/fa4site || { echo "join failed"; exit 4; }
    fa4_env
    python -c "import flash_attn.cute.interface as m; print('fa4 import ok')" 2>&1 | tail -2
    timeout 100 python -m gptlab.benchmarks.attention > "$out/attention.jsonl" 2>> "$out/errors.log"
    echo "attention exit $?" >> "$out/exits.txt"; cat "$out/attention.jsonl"
    timeout 120 python -m pytest -q -p no:cacheprovider tests/training/test_gpu.py -k fa4 > "$out/test_fa4.log" 2>&1
    echo "test_fa4 exit $?" >> "$out/exits.txt"; grep -v "^DEBUG" "$out/test_fa4.log" | grep -B2 -A2 "Error\|assert\|passed\|failed" | tail -30
    BENCH_TIMEOUT=${BENCH_TIMEOUT:-250} bench 1
    grep -h '"ratio\|"name": "gptlab\|plain_loop' "$out/bench_fa4.jsonl" | cut -c1-250
    cat "$out/exits.txt"; grep -i "error" "$out/errors.log" | tail -5
    ;;
  more)
    fa4_env
    timeout ${NUMERICS_TIMEOUT:-200} python -m gptlab.benchmarks.numerics --steps 200 --only fa4_attention,cudnn_attention -- \
      data=pycode paths.data_dir=$data data.batch_size=32 trainer.limit_val_batches=32 \
      trainer.log_every_n_steps=25 > "$out/numerics_fa4.jsonl" 2>> "$out/errors.log"
    echo "numerics exit $?" >> "$out/exits.txt"
    cat "$out/numerics_fa4.jsonl"
    BENCH_TIMEOUT=${BENCH_TIMEOUT:-230} bench 1
    cat "$out/exits.txt"; grep -h '"ratio\|"name": "gptlab\|plain_loop' "$out/bench_fa4.jsonl" | cut -c1-250
    ;;
esac
