#!/usr/bin/env bash
# One GPU: each kernel choice of the kernels: group measured. Part "loss": the output layer +
# cross-entropy alone per way (python -m gptlab.benchmarks.loss), and Liger's kernel at each
# launch setting. Part "attention": every attention kernel alone at GPT-2's shapes, then gptlab's
# step with cuDNN and FA4 attention against the default (needs flash-attn-4: pip install -e
# ".[fa4]"). Part "float8": torchao's FP8 layers (pip install -e ".[float8]"). Part "rotary":
# rotary positions in a compiled step (python -m gptlab.benchmarks.rotary), then gptlab's step of
# Llama 124M and of the speedrun preset (under torch's tiling and under N-D tiling) against GPT-2's.
# Part "preset": the speedrun preset's step against GPT-2's: the optimizer step alone (python -m
# gptlab.benchmarks.optimizer: AdamW, Muon eager and compiled), then gptlab's step of GPT-2, of
# the preset's architecture with AdamW and of the preset, profiled (PRESET_VARIANTS: more
# --variant arguments). Output under ${OUT:-/tmp/gptlab-gpu}.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
rm -rf /tmp/gptlab-bench-*
bench() {  # the Lightning path with these variants, against one plain loop
  CUDA_VISIBLE_DEVICES=0 timeout ${BENCH_TIMEOUT:-400} python -m gptlab.benchmarks.throughput \
    --micro-batches 32 --lightning-micro-batches 32 "$@" -- kernels.compile=true
}
case "${1:-loss}" in
  loss)
    timeout 150 python -m gptlab.benchmarks.loss --ways compiled,liger,liger_chunks_8192,liger_chunks_4096,torch_chunks_4096 \
      > "$out/loss.jsonl" 2>> "$out/errors.log"
    timeout 200 python -m gptlab.benchmarks.loss --sweep --repeats 10 > "$out/loss_sweep.jsonl" 2>> "$out/errors.log"
    timeout 150 python -m gptlab.benchmarks.loss --ways liger --profile --repeats 20 \
      --launches 8192x4,8192x8,4096x4,4096x8,16384x8,32768x32 > "$out/loss_launches.jsonl" 2>> "$out/errors.log"
    bench --variant "compiled_loss=kernels.loss=compiled" > "$out/bench_loss.jsonl" 2>> "$out/errors.log"
    cat "$out/loss.jsonl" "$out/loss_launches.jsonl"; grep -h '"ratio' "$out/bench_loss.jsonl"
    ;;
  attention)
    timeout 100 python -m gptlab.benchmarks.attention > "$out/attention.jsonl" 2>> "$out/errors.log"
    bench --plain-attention fa4 --variant "fa4=kernels.attention=fa4" \
      --variant "cudnn=kernels.attention=cudnn" > "$out/bench_attention.jsonl" 2>> "$out/errors.log"
    cat "$out/attention.jsonl"; grep -h '"ratio' "$out/bench_attention.jsonl"
    ;;
  rotary)
    timeout 200 python -m gptlab.benchmarks.rotary > "$out/rotary.jsonl" 2>> "$out/errors.log"
    bench --skip-plain --variant "llama=model=llama_124m;model.vocab_multiple=64" \
      --variant "preset=experiment=speedrun_124m" \
      --variant "preset_nd_tiling=experiment=speedrun_124m;kernels.compile_options={triton.prefer_nd_tiling:true}" \
      > "$out/bench_rotary.jsonl" 2>> "$out/errors.log"
    cat "$out/rotary.jsonl"; grep -h '"name": "gptlab' "$out/bench_rotary.jsonl" | cut -c1-160
    ;;
  preset)
    timeout 150 python -m gptlab.benchmarks.optimizer > "$out/optimizer.jsonl" 2>> "$out/errors.log"
    bench --skip-plain --steps 40 --warmup 15 --profile-steps 4 \
      --variant "modern_adamw=model=modern_124m;model.vocab_multiple=64" \
      --variant "preset=experiment=speedrun_124m" ${PRESET_VARIANTS:-} \
      > "$out/bench_preset.jsonl" 2>> "$out/errors.log"
    cat "$out/optimizer.jsonl"; grep -h '"name": "gptlab' "$out/bench_preset.jsonl" | cut -c1-200
    ;;
  float8)
    bench --steps 50 --variant "pad64=model.vocab_multiple=64" \
      --variant "fp8_tensorwise=kernels.float8=tensorwise;model.vocab_multiple=64" \
      > "$out/bench_float8.jsonl" 2>> "$out/errors.log"
    grep -h '"ratio' "$out/bench_float8.jsonl"
    ;;
esac
grep -i "error" "$out/errors.log" 2>/dev/null | tail -5
