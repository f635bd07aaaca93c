#!/usr/bin/env bash
# 2 GPUs, DDP: gptlab's run (signals handled by LastCheckpoint, no per-step SIGTERM broadcast)
# against Lightning's per-step broadcast (stop_signals=[] keeps Lightning's handling), alternating.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
python -c "from pathlib import Path; from gptlab.benchmarks.plain_loop import random_shards; random_shards(Path('$out/shards'), 60_000_000)"
for repeat in 1 2; do
  for variant in lightning_broadcast gptlab; do
    extra=(); [ $variant = lightning_broadcast ] && extra=("callbacks.last_checkpoint.stop_signals=[]")
    dir=$out/${variant}_$repeat
    timeout 200 python train.py model=gpt2_124m kernels.compile=true model.drop_rate=0.0 data=tokens \
      data.path=$out/shards data.batch_size=32 data.num_workers=4 trainer=ddp trainer.devices=2 \
      trainer.max_steps=140 trainer.val_check_interval=1000000 trainer.limit_val_batches=0 \
      trainer.log_every_n_steps=50 trainer.enable_progress_bar=false callbacks.model_checkpoint=null \
      sample.max_new_tokens=0 print_config=false logger=csv hydra.run.dir=$dir \
      +callbacks.hand_timer._target_=gptlab.benchmarks.throughput.HandTimer +callbacks.hand_timer.first_step=40 \
      +callbacks.hand_timer.last_step=130 +callbacks.hand_timer.out=$dir/hand.json "${extra[@]}" \
      > $out/${variant}_$repeat.log 2>&1
    echo "$variant $repeat exit $? $(cat $dir/hand.json 2>/dev/null)" | tee -a "$out/summary.txt"
  done
done
