"""Datasheet peak FLOP/s of the GPUs gptlab knows, for MFU."""

from __future__ import annotations

# dense (no sparsity) peak TFLOP/s per GPU for bf16/fp16 and for tf32 matmuls, from the datasheets
_PEAKS: list[tuple[str, float, float]] = [
    # substring of torch.cuda.get_device_name(), bf16, tf32
    ("H200", 989.0, 494.5),
    ("GH200", 989.0, 494.5),
    ("H100 NVL", 835.0, 417.5),
    ("H100 PCIe", 756.0, 378.0),
    ("H100", 989.0, 494.5),  # SXM (e.g. "NVIDIA H100 80GB HBM3")
    ("H800", 989.0, 494.5),
    ("A100", 312.0, 156.0),
    ("A800", 312.0, 156.0),
    ("L40S", 362.0, 183.0),
    ("L4", 121.0, 60.0),
    ("A10G", 70.0, 35.0),
    ("A10", 125.0, 62.5),
    ("RTX 4090", 165.2, 82.6),
    ("RTX 3090", 71.0, 35.6),
    ("V100", 125.0, 0.0),
    ("T4", 65.0, 0.0),
]


def peak_flops(device_name: str, precision: str) -> float | None:
    """Datasheet peak FLOP/s of one GPU for the training precision, or None if the card is unknown."""
    uses_tf32 = str(precision).startswith("32")
    for key, bf16, tf32 in _PEAKS:
        if key in device_name:
            peak = tf32 if uses_tf32 else bf16
            return peak * 1e12 if peak else None
    return None
