#!/usr/bin/env bash
# One GPU: the validation loss after equal tokens of each kernel choice against the compiled loss
# (python -m gptlab.benchmarks.numerics) on the offline corpus (data=pycode). Extra arguments go
# to the benchmark (e.g. --only liger_loss). Output under ${OUT:-/tmp/gptlab-gpu}.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
data=${DATA_DIR:-/tmp/gptlab-data}
[ -f $data/pycode/manifest.json ] || python -m gptlab prepare data=pycode paths.data_dir=$data \
  data.source.max_tokens=60000000 hydra.run.dir=/tmp/gptlab-prepare > "$out/prepare.log" 2>&1
timeout ${NUMERICS_TIMEOUT:-520} python -m gptlab.benchmarks.numerics --steps ${STEPS:-200} "$@" -- \
  data=pycode paths.data_dir=$data data.batch_size=32 trainer.limit_val_batches=32 \
  trainer.log_every_n_steps=25 > "$out/numerics.jsonl" 2> "$out/numerics.err"
echo "numerics exit $?" >> "$out/exits.txt"
cat "$out/exits.txt" "$out/numerics.jsonl"
