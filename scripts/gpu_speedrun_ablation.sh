#!/usr/bin/env bash
# One GPU: each speedrun switch alone on top of experiment=speedrun_124m (or one of its own taken
# out: no_value_embeds, no_normuon), at STEPS (300: the 1,200-step budget's) steps and
# one seed (python -m gptlab.benchmarks.speedrun with the preset as its baseline): the final
# validation loss and the training time of each against the preset's. ONLY="a b" picks switches.
# Output under ${OUT:-/tmp/gptlab-gpu}: ablation.jsonl, ablation.md, ablation.err.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
source "$(dirname "$0")/gpu_pycode.sh"
preset="experiment=speedrun_124m"
declare -A switches=(
  [no_value_embeds]="$preset;model.value_embeds=0"  # the preset's own switches, taken out
  [no_normuon]="$preset;optim.normuon=false"
  [unet_skips]="$preset;model.unet_skips=true"
  [polar_express]="$preset;optim.ns_coefficients=polar_express"
  [cautious_wd]="$preset;optim.weight_decay=0.025;optim.cautious_weight_decay=true"
  [window_schedule]="$preset;model.attn_window=1024;module.attn_window_start=128;kernels.attention=flex"
  [window_512]="$preset;model.attn_window=512;kernels.attention=flex"
  [fp8_head]="$preset;kernels.float8=tensorwise;kernels.float8_layers=head"  # needs torchao
  [batch_ramp]="$preset;data.batch_size_schedule=[16,32,48]"  # the same tokens over the run
)
candidates=()
for name in ${ONLY:-unet_skips polar_express cautious_wd window_schedule window_512 fp8_head batch_ramp}; do
  candidates+=(--candidate "$name=${switches[$name]}")
done
steps=${STEPS:-300}
timeout ${ABLATION_TIMEOUT:-420} python -m gptlab.benchmarks.speedrun --baseline "$preset" \
  --budget "$steps:$steps" --seeds 1 "${candidates[@]}" --table "$out/ablation.md" -- \
  paths.data_dir=$data "$@" > "$out/ablation.jsonl" 2> "$out/ablation.err"
echo "ablation exit $?" >> "$out/exits.txt"
cat "$out/exits.txt" "$out/ablation.md" 2>/dev/null
