#!/usr/bin/env bash
# One GPU: time to the baseline's loss (python -m gptlab.benchmarks.speedrun) on data=pycode:
# GPT-2 124M with AdamW for a fixed budget sets the target; Muon at two rates, AdamW at twice the
# rate, and experiment=speedrun_124m race to it. Eager mode, as the ablation.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
data=${DATA_DIR:-/tmp/gptlab-data}
[ -f $data/pycode/manifest.json ] || python -m gptlab prepare data=pycode paths.data_dir=$data \
  data.source.max_tokens=60000000 hydra.run.dir=/tmp/gptlab-prepare > "$out/prepare.log" 2>&1
gpt2="model=gpt2_124m;model.drop_rate=0.0"
timeout ${SPEEDRUN_TIMEOUT:-520} python -m gptlab.benchmarks.speedrun --baseline-steps ${STEPS:-300} --val-every 25 \
  --candidate "adamw_lr1.2e-3=$gpt2;optim.lr=1.2e-3" \
  --candidate "muon_lr0.02=$gpt2;optim=muon" \
  --candidate "muon_lr0.05=$gpt2;optim=muon;optim.lr=0.05" \
  --candidate "speedrun_124m=experiment=speedrun_124m" -- \
  data=pycode paths.data_dir=$data data.batch_size=32 trainer.limit_val_batches=32 \
  trainer.log_every_n_steps=25 kernels.compile=false "$@" > "$out/speedrun.jsonl" 2> "$out/speedrun.err"
echo "speedrun exit $?" >> "$out/exits.txt"
cat "$out/exits.txt" "$out/speedrun.jsonl"
timeout 120 python -m pytest -q -p no:cacheprovider tests/training/test_gpu.py -k switches > "$out/test_gpu.log" 2>&1
echo "test_gpu exit $?" >> "$out/exits.txt"; tail -2 "$out/test_gpu.log"
