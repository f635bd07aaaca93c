"""How the model is run, not what it computes: compiling, the attention and loss kernels, FP8.

Every choice here leaves the model's function and its checkpoints as they are (up to rounding),
so a run can resume under other kernels. ``KernelConfig`` is the ``kernels:`` config group.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from gptlab.errors import ConfigError, check_known_keys, check_types
from gptlab.kernels import attention, compiler, float8, loss

COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
FLOAT8_RECIPES = (None, "tensorwise", "rowwise")


@dataclass(frozen=True)
class KernelConfig:
    compile: bool | str = "auto"  # torch.compile: true, false, or auto (when training on GPUs)
    compile_mode: str | None = None  # torch.compile's mode
    compile_options: Mapping[str, Any] | None = None  # or Inductor settings instead of a mode
    attention: str = "auto"  # the kernel behind scaled_dot_product_attention (kernels.attention)
    loss: str = (
        "auto"  # the training loss: compiled F.cross_entropy or Liger's kernel (kernels.loss)
    )
    fused_loss: bool = False  # output layer + cross-entropy in row chunks: logits never held whole
    float8: str | None = None  # FP8 matrix products through torchao: tensorwise or rowwise
    float8_layers: str = "all"  # which linear layers: all (eligible), or head (the output layer)

    def validate(self) -> None:
        """Raise ConfigError naming the first impossible ``kernels.<key>`` (no device needed)."""
        if self.compile not in (True, False, "auto"):
            raise ConfigError(f"kernels.compile={self.compile!r} must be true, false or auto")
        if self.compile_mode not in COMPILE_MODES:
            raise ConfigError(
                f"kernels.compile_mode={self.compile_mode!r} must be one of {list(COMPILE_MODES)}"
            )
        compiler.check_options(self.compile_options, self.compile_mode)
        attention.check_name(self.attention)
        loss.check_name(self.loss)
        if not isinstance(self.fused_loss, bool):
            raise ConfigError(f"kernels.fused_loss={self.fused_loss!r} must be true or false")
        if self.float8_layers not in float8.LAYERS:
            raise ConfigError(
                f"kernels.float8_layers={self.float8_layers!r} must be one of {list(float8.LAYERS)}"
            )
        if self.float8:
            float8.check_loss_path(self.float8_layers, self.loss == "liger" or self.fused_loss)
        if self.float8 not in FLOAT8_RECIPES:
            raise ConfigError(
                f"kernels.float8={self.float8!r} must be one of {list(FLOAT8_RECIPES)}"
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> KernelConfig:
        check_known_keys(cls, dict(values), "kernels", "a kernel setting")
        check_types(typing.get_type_hints(cls), dict(values), "kernels")
        options = values.get("compile_options")
        if isinstance(options, Mapping):  # a plain dict: configs pass OmegaConf's mappings
            values = {**values, "compile_options": dict(options) or None}
        config = cls(**values)
        config.validate()
        return config

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
