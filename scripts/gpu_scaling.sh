#!/usr/bin/env bash
# 1 vs 2 GPUs for gpt2_124m at the same global batch, gpt2_xl with FSDP on 2 GPUs, and the larger
# GPT-2 sizes on one GPU. Logs under ${OUT:-/tmp/gptlab-gpu}; summary printed as JSON lines.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
# the default command picks the GPU by itself
timeout 120 python train.py trainer.max_steps=100 > "$out/default_run.log" 2>&1
grep -E "GPU available|reached" "$out/default_run.log" | tail -2
data=/tmp/gptlab-text
python -m gptlab.benchmarks.data --tokens 20000000 --workdir $data --batches 500 > "$out/data_bench.json"
source scripts/gpu_common.sh
gpt2=(model=gpt2_124m kernels.compile=true model.vocab_multiple=64 data.batch_size=32 data.global_batch_size=64
      trainer.max_steps=200 trainer.val_check_interval=200 trainer.limit_val_batches=20)
run gpt2_124m_1gpu 300 "${gpt2[@]}" trainer.devices=1
run gpt2_124m_2gpu 300 "${gpt2[@]}" trainer.devices=2
run gpt2_xl_fsdp_2gpu 300 model=gpt2_xl trainer=fsdp trainer.devices=2 data.batch_size=8 trainer.max_steps=40 \
  trainer.val_check_interval=40 trainer.limit_val_batches=2 model.vocab_multiple=64
large=(kernels.compile=true model.vocab_multiple=64 trainer.max_steps=60 trainer.val_check_interval=60 trainer.limit_val_batches=2)
CUDA_VISIBLE_DEVICES=0 run gpt2_medium_1gpu 240 model=gpt2_medium data.batch_size=16 "${large[@]}"
CUDA_VISIBLE_DEVICES=0 run gpt2_large_1gpu 240 model=gpt2_large data.batch_size=8 "${large[@]}"
