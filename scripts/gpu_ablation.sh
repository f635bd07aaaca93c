#!/usr/bin/env bash
# One GPU: the offline corpus (data=pycode, 60M tokens), the GPU test of the architecture
# switches, then the architecture ablation (python -m gptlab.benchmarks.ablation). Eager mode (no
# torch.compile) so thirteen variants fit ten minutes; every variant sees the same tokens.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
data=${DATA_DIR:-/tmp/gptlab-data}
python -m gptlab prepare data=pycode paths.data_dir=$data data.source.max_tokens=60000000 \
  hydra.run.dir=/tmp/gptlab-prepare > "$out/prepare.log" 2>&1
echo "prepare exit $?" >> "$out/exits.txt"
timeout 150 python -m pytest -q -p no:cacheprovider tests/training/test_gpu.py -k switches > "$out/test_gpu.log" 2>&1
echo "test_gpu exit $?" >> "$out/exits.txt"
timeout ${ABLATION_TIMEOUT:-400} python -m gptlab.benchmarks.ablation --steps ${STEPS:-200} ${ABLATION_ARGS:-} -- \
  data=pycode paths.data_dir=$data data.batch_size=32 trainer.limit_val_batches=32 \
  trainer.log_every_n_steps=25 kernels.compile=false "$@" > "$out/ablation.jsonl" 2> "$out/ablation.err"
echo "ablation exit $?" >> "$out/exits.txt"
cat "$out/exits.txt" "$out/ablation.jsonl"; tail -3 "$out/test_gpu.log"; grep -i "prepared" "$out/prepare.log"
