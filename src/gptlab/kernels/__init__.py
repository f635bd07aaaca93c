"""Fast paths for a plain model, chosen once per run when the device is known: the training loss
(:mod:`.loss`), the attention kernel (:mod:`.attention`), FP8 matrix products (:mod:`.float8`) and
torch.compile (:mod:`.compiler`). The model (:mod:`gptlab.model`) knows none of them; the
``kernels:`` config group (:class:`KernelConfig`) holds every setting.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from gptlab.kernels.config import KernelConfig
from gptlab.model import GPT

__all__ = ["KernelConfig", "Kernels", "prepare"]


@dataclass
class Kernels:
    """What :func:`prepare` chose for one run."""

    loss: object  # (inputs, targets) -> mean loss: the way kernels.loss picked, maybe compiled
    loss_way: str  # "compiled" or "liger"
    attention: str
    compiled: bool
    float8_layers: int = 0
    swapped_attention: bool = False  # kernels.attention=fa4 replaced PyTorch's flash kernel

    def attention_context(self) -> contextlib.AbstractContextManager:
        from gptlab.kernels.attention import kernel_context

        return kernel_context(self.attention)

    def release(self) -> None:
        """Undo process-wide choices, so the next run of a sweep or benchmark starts clean."""
        if self.swapped_attention:
            from gptlab.kernels.attention import restore

            restore()
            self.swapped_attention = False

    def describe(self) -> str:
        parts = [f"loss {self.loss_way}", f"attention {self.attention}"]
        parts.append("compiled" if self.compiled else "not compiled")
        if self.float8_layers:
            parts.append(f"{self.float8_layers} FP8 linear layers")
        return "kernels: " + ", ".join(parts)


def prepare(model: GPT, config: KernelConfig, device: torch.device) -> Kernels:
    """Convert, choose and compile for ``device``: FP8 layers first (they change the modules the
    graph is traced from), then the attention kernel, the loss, and torch.compile of the loss."""
    from gptlab.kernels import attention, compiler, float8, loss

    attention.check_model(config.attention, model.cfg.drop_rate, model.cfg.attn_window)
    head_alone = config.float8 and config.float8_layers == "head"
    # auto picks the loss that runs through the head's module when the head alone is FP8
    way = "compiled" if head_alone and config.loss == "auto" else loss.resolve(config.loss, device)
    converted = 0
    if config.float8:  # Liger's kernel and the fused loss take the head's weight, not its module
        head_in_loss_kernel = way == "liger" or config.fused_loss
        converted = float8.convert_linears(
            model, config.float8, device, config.float8_layers, head_in_loss_kernel
        )
    swapped = attention.activate(config.attention, device)
    if config.attention == attention.FLEX:
        from gptlab.kernels.flex import FlexWindow

        attention.check_device(config.attention, device)
        model.use_window_kernel(FlexWindow())
    fn = loss.training_loss(model, way, config.fused_loss, device)
    compile_it = compiler.wanted(config.compile, device)
    if compile_it:
        fn = compiler.compiled(fn, config.compile_mode, config.compile_options)
    return Kernels(fn, way, config.attention, compile_it, converted, swapped)
