#!/usr/bin/env bash
# The GPU measurements of docs/benchmarks.md, in one go on a 2-GPU machine (H100 or H200).
# Writes logs and JSON lines under ${OUT:-/tmp/gptlab-gpu}.
set -uo pipefail
out=${OUT:-/tmp/gptlab-gpu}
mkdir -p "$out"
cd "$(dirname "$0")/.."
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpus.csv"
python -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__)" > "$out/versions.txt"

#  throughput: plain loop vs gptlab, unpadded and padded vocabulary (issues 9 and 5)
CUDA_VISIBLE_DEVICES=0 timeout 300 python -m gptlab.bench --micro-batches ${PLAIN_MB:-32} --lightning-micro-batches 32 \
  -- model.compile=true > "$out/bench_unpadded.jsonl" 2> "$out/bench_unpadded.err"
CUDA_VISIBLE_DEVICES=0 timeout 240 python -m gptlab.bench --skip-plain --lightning-micro-batches 32,48 \
  -- model.compile=true model.vocab_multiple=64 > "$out/bench_padded.jsonl" 2> "$out/bench_padded.err"
cat "$out"/bench_*.jsonl
