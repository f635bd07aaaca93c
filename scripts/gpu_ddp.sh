#!/usr/bin/env bash
# 1 GPU vs 2 GPUs for gpt2_124m, Lightning's DDP (trainer.devices=2) against trainer=ddp
# (gptlab's same-stream DDP). Same global batch, same tokens. JSON lines in ${OUT}/summary.jsonl.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
data=/tmp/gptlab-text
python -m gptlab.benchmarks.data --tokens 20000000 --workdir $data --batches 100 > /dev/null
source scripts/gpu_common.sh
gpt2=(model=gpt2_124m kernels.compile=true data.batch_size=32 data.global_batch_size=64 trainer.max_steps=200
      trainer.val_check_interval=200 trainer.limit_val_batches=20)
run gpt2_124m_1gpu 240 "${gpt2[@]}" trainer.devices=1
run gpt2_124m_2gpu_lightning_ddp 240 "${gpt2[@]}" trainer.devices=2
run gpt2_124m_2gpu_gptlab_ddp 240 "${gpt2[@]}" trainer=ddp trainer.devices=2
