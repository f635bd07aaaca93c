"""The training loss, chosen once per run (``kernels.loss``, ``kernels.fused_loss``).

``compiled``: the model's own ``F.cross_entropy`` inside the compiled graph, which Inductor fuses
with the output layer's up-cast. ``liger``: the output layer and Liger-Kernel's Triton
cross-entropy as one operation that forms the gradient in the forward pass
(:mod:`gptlab.kernels.linear_cross_entropy`), CUDA only. ``auto`` takes ``liger`` where it can run
(a CUDA GPU with liger-kernel installed) and ``compiled`` elsewhere: for GPT-2 124M on an H200 it
made steps 3-4% faster than the compiled loss, held 2.2 GiB less memory and reached a validation
loss within 0.2% after equal tokens (docs/performance.md). ``fused_loss``: the same operation in
row chunks of 4,096, with PyTorch's operations for the middle step unless Liger's is chosen, so
the logits of a whole batch are never held. Both soft-cap the logits as the model does.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from lightning.pytorch.utilities import rank_zero_info

from gptlab.errors import ConfigError
from gptlab.kernels.linear_cross_entropy import linear_cross_entropy
from gptlab.model import GPT
from gptlab.upstream import liger

LOSSES = ("auto", "compiled", "liger")
CHUNK_ROWS = 4096  # rows per chunk with kernels.fused_loss=true

# Liger's kernel at GPT-2's vocabulary (32,768 rows x 50,257 columns, bf16) on an H200, loss +
# gradient inside the fused operation after the output layer's product (`python -m
# gptlab.benchmarks.loss --profile --launches ...`): blocks of 8,192 columns with 4 warps 4.16 ms,
# with 8 warps 5.1-5.2, Liger's own launch (blocks of 32,768, 32 warps) 8.7; torch.compile's
# kernels take 5.4-6.0 ms. Other GPUs get Liger's own choice.
HOPPER_LAUNCH = {"BLOCK_SIZE": 8192, "num_warps": 4}

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (inputs, targets) -> mean loss


def check_name(name: str) -> None:
    """``kernels.loss`` known and, when named, installed."""
    if name not in LOSSES:
        raise ConfigError(f"kernels.loss={name!r} must be one of {list(LOSSES)}")
    if name == "liger" and not liger.available():
        raise ConfigError(
            "kernels.loss=liger needs the liger-kernel package: "
            "pip install -e '.[kernels]' (or set kernels.loss=auto)"
        )


def resolve(name: str, device: torch.device) -> str:
    """``compiled`` or ``liger`` for this device: ``auto`` takes Liger's kernel on CUDA GPUs when it
    is installed (and says once how to get it when it is not)."""
    if name == "liger" and device.type != "cuda":
        raise ConfigError(
            f"kernels.loss=liger runs on CUDA GPUs and this run is on {device.type}; "
            "set kernels.loss=auto"
        )
    if name != "auto":
        return name
    if device.type != "cuda":
        return "compiled"
    if not liger.available():
        rank_zero_info(
            "kernels.loss=auto: the compiled cross-entropy; pip install -e '.[kernels]' adds "
            "Liger-Kernel's, 3-4% faster steps for GPT-2 124M on an H200 (docs/performance.md)"
        )
        return "compiled"
    return "liger"


def liger_launch(device: torch.device, vocab: int, element_size: int = 2) -> dict[str, int]:
    major = torch.cuda.get_device_capability(device)[0]
    return HOPPER_LAUNCH if major == 9 else liger.default_launch(vocab, element_size, major)


def training_loss(model: GPT, way: str, fused: bool, device: torch.device) -> Loss:
    """(inputs, targets) -> the mean next-token loss of ``model``, computed the chosen way when
    gradients are wanted (training) and by the model itself otherwise (validation)."""
    if way == "compiled" and not fused:
        return model
    kernel = "liger" if way == "liger" else "torch"
    launch = liger_launch(device, model.cfg.vocab_size) if kernel == "liger" else None
    chunk_rows = CHUNK_ROWS if fused else None
    cfg = model.cfg

    def loss(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():  # no gradient to form in the forward pass
            return model(inputs, targets)
        h = model.hidden_states(inputs)
        return linear_cross_entropy(
            h.reshape(-1, h.size(-1)),
            model.lm_head.weight,
            targets.reshape(-1),
            cfg.vocab_size,
            chunk_rows=chunk_rows,
            kernel=kernel,
            softcap=cfg.logit_softcap,
            launch=launch,
        )

    return loss
