#!/usr/bin/env bash
# One GPU: the GPU-only tests (tests/training/test_gpu.py: no host sync in training steps, the
# on-device skip of non-finite steps, the fused and Liger losses against the compiled one, FA4).
# Extra arguments go to pytest (e.g. -k liger). Output under ${OUT:-/tmp/gptlab-gpu}.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"
timeout ${TESTS_TIMEOUT:-300} python -m pytest -q -n 0 -p no:cacheprovider tests/training/test_gpu.py "$@" \
  > "$out/test_gpu.log" 2>&1
echo "test_gpu exit $?" >> "$out/exits.txt"
tail -3 "$out/test_gpu.log"
