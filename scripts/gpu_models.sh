#!/usr/bin/env bash
# One GPU: gptlab's full path for the larger GPT-2 sizes (compile, bf16), tokens/s by hand timing and
# MFU against the datasheet and the measured matmul ceiling. Usage: gpu_models.sh name:micro_batch ...
# e.g. gpu_models.sh gpt2_medium:32 gpt2_large:16. Output under ${OUT:-/tmp/gptlab-gpu}.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
python - "$out" <<'PY'
import json, sys, torch
from pathlib import Path
from gptlab.benchmarks.plain_loop import matmul_ceiling, random_shards
random_shards(Path(sys.argv[1]) / "shards", 30_000_000)
print(json.dumps({"device": torch.cuda.get_device_name(), "matmul_bf16_tflops": round(matmul_ceiling(), 1)}))
PY
for spec in "$@"; do
  model=${spec%%:*}; mb=${spec##*:}; dir=$out/$model
  timeout ${RUN_TIMEOUT:-300} python train.py model=$model kernels.compile=true model.drop_rate=0.0 \
    model.vocab_multiple=64 data=tokens data.path=$out/shards data.batch_size=$mb data.num_workers=4 \
    trainer.max_steps=70 trainer.val_check_interval=1000000 trainer.limit_val_batches=0 \
    trainer.log_every_n_steps=10 trainer.enable_progress_bar=false callbacks.model_checkpoint=null \
    callbacks.last_checkpoint=null sample.max_new_tokens=0 print_config=false logger=csv \
    hydra.run.dir=$dir +callbacks.hand_timer._target_=gptlab.benchmarks.throughput.HandTimer \
    +callbacks.hand_timer.first_step=30 +callbacks.hand_timer.last_step=60 \
    +callbacks.hand_timer.out=$dir/hand.json > $out/$model.log 2>&1
  code=$?
  python - "$model" "$mb" "$dir" "$code" <<'PY'
import csv, json, sys
model, mb, run_dir, code = sys.argv[1:]
rows = list(csv.DictReader(open(run_dir + "/csv/metrics.csv")))
col = lambda k: [float(r[k]) for r in rows if r.get(k)]
try:
    hand = json.load(open(run_dir + "/hand.json"))["tokens_per_s"]
except OSError:
    hand = None
print(json.dumps({"model": model, "micro_batch": int(mb), "exit": int(code), "hand_timed_tokens_per_s": hand,
  "logged_tokens_per_s": col("perf/tokens_per_s")[2:], "mfu_datasheet": col("perf/mfu")[2:],
  "peak_memory_gib": max(col("perf/peak_memory_gib") or [0])}))
PY
done
