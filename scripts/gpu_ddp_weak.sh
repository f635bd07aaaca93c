#!/usr/bin/env bash
# Weak scaling: the same micro-batch per GPU without accumulation (1 GPU: global batch 32;
# 2 GPUs: 64), with trainer=ddp. JSON lines in ${OUT}/summary.jsonl.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
data=/tmp/gptlab-text
python -m gptlab.benchmarks.data --tokens 20000000 --workdir $data --batches 100 > /dev/null
source scripts/gpu_common.sh
gpt2=(model=gpt2_124m kernels.compile=true data.batch_size=32 trainer.max_steps=200 trainer.val_check_interval=200
      trainer.limit_val_batches=20 trainer=ddp)
run gpt2_124m_1gpu_mb32 240 "${gpt2[@]}" trainer.devices=1
run gpt2_124m_2gpu_mb32 240 "${gpt2[@]}" trainer.devices=2
