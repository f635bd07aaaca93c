# Sourced first by every GPU script: output folder, project root, NCCL settings, and a record of
# the cards and versions beside the results.
out=${OUT:-/tmp/gptlab-gpu}
mkdir -p "$out"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpus.csv"
python -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__)" > "$out/versions.txt"
