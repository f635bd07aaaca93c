"""The kernel behind the model's ``scaled_dot_product_attention`` (``kernels.attention``).

``flex`` runs a sliding-window model's attention through FlexAttention (:mod:`gptlab.kernels.flex`).

``auto`` leaves the choice to PyTorch; ``flash``, ``cudnn``, ``efficient`` and ``math`` pin one of
PyTorch's own kernels. ``fa4`` runs FlashAttention-4 (the ``flash-attn-4`` package, CuTe DSL kernels
for Hopper and Blackwell GPUs) in place of PyTorch's flash kernel, through PyTorch's registry of
flash-attention implementations (``torch.nn.attention.activate_flash_attention_impl``, PyTorch >=
2.11): the model code stays plain ``F.scaled_dot_product_attention``, and torch.compile keeps
working because the swap happens in the dispatcher, below the traced graph. FA4 has no attention
dropout, so it needs ``model.drop_rate=0``. The swap is process-wide while a run is set up; the
module undoes it at teardown so that the next run of a sweep or benchmark starts from PyTorch's own.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from gptlab.errors import ConfigError

PYTORCH_KERNELS = {
    "auto": None,
    "flash": SDPBackend.FLASH_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "math": SDPBackend.MATH,
}
# name -> (PyTorch's registry name, the module it imports, the pip package, compute capabilities)
FLASH_IMPLEMENTATIONS = {"fa4": ("FA4", "flash_attn.cute.interface", "flash-attn-4", (9, 10))}
# PyTorch's FA4 glue (torch 2.11 to 2.13) unpacks ``(out, lse)`` from FA4's forward; from
# flash-attn-4 4.0.0b19 on it returns more values, and the first attention call fails
NEWEST_COMPATIBLE = {"flash-attn-4": "4.0.0b18"}
# FlexAttention's block-sparse kernel for sliding-window models (gptlab.kernels.flex)
FLEX = "flex"
CHOICES = [*PYTORCH_KERNELS, *FLASH_IMPLEMENTATIONS, FLEX]


def check_name(name: str) -> None:
    """``kernels.attention`` known and, for a flash implementation, installed in a fitting version."""
    if name not in CHOICES:
        raise ConfigError(f"kernels.attention={name!r} must be one of {CHOICES}")
    if name == FLEX and not _importable("torch.nn.attention.flex_attention"):
        raise ConfigError(
            f"kernels.attention=flex needs PyTorch's FlexAttention (torch >= 2.5; this is "
            f"{torch.__version__}); set kernels.attention=auto"
        )
    if name in FLASH_IMPLEMENTATIONS:
        _, module, package, _ = FLASH_IMPLEMENTATIONS[name]
        if not hasattr(torch.nn.attention, "activate_flash_attention_impl"):
            raise ConfigError(
                f"kernels.attention={name} needs PyTorch >= 2.11 (this is {torch.__version__}); "
                "set kernels.attention=auto"
            )
        if not _importable(module):
            raise ConfigError(
                f"kernels.attention={name} needs the {package} package: pip install {package} "
                "(or set kernels.attention=auto)"
            )
        check_version(name, package)


def check_model(name: str, drop_rate: float, attn_window: int | None = None) -> None:
    """A kernel without attention dropout needs a model without dropout; FlexAttention is for
    sliding-window models."""
    if name == FLEX and attn_window is None:
        raise ConfigError(
            "kernels.attention=flex runs sliding-window attention and model.attn_window is null: "
            "set model.attn_window, or kernels.attention=auto (causal attention is fastest there)"
        )
    if name in (*FLASH_IMPLEMENTATIONS, FLEX) and drop_rate:
        raise ConfigError(
            f"kernels.attention={name} has no attention dropout and model.drop_rate="
            f"{drop_rate}; set model.drop_rate=0.0 or kernels.attention=auto"
        )


def check_device(name: str, device: torch.device) -> None:
    """A flash implementation runs on GPUs of the compute capabilities it was built for;
    FlexAttention trains on CUDA GPUs."""
    if name == FLEX and device.type != "cuda":
        raise ConfigError(
            f"kernels.attention=flex trains on CUDA GPUs (FlexAttention has no backward on "
            f"{device.type}); set kernels.attention=auto: the window is then a dense mask"
        )
    if name not in FLASH_IMPLEMENTATIONS:
        return
    _, _, _, capabilities = FLASH_IMPLEMENTATIONS[name]
    if device.type != "cuda" or torch.cuda.get_device_capability(device)[0] not in capabilities:
        found = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
        raise ConfigError(
            f"kernels.attention={name} runs on GPUs of compute capability "
            f"{' or '.join(f'{c}.x' for c in capabilities)} (H100/H200, B200), not {found}; "
            "set kernels.attention=auto"
        )


def check_version(name: str, package: str) -> None:
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    newest = NEWEST_COMPATIBLE.get(package)
    try:
        installed = version(package)
    except PackageNotFoundError:  # a source checkout on the path: trust it
        return
    if newest and Version(installed) > Version(newest):
        raise ConfigError(
            f"kernels.attention={name}: {package} {installed} does not fit PyTorch's FA4 glue "
            f"(torch {torch.__version__}); pip install '{package}=={newest}'"
        )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def kernel_context(name: str) -> contextlib.AbstractContextManager:
    """The context the model's attention runs in: PyTorch's choice (``auto``), one of its kernels,
    or its flash kernel, which an activated implementation (``fa4``) has replaced."""
    if name in FLASH_IMPLEMENTATIONS:
        return sdpa_kernel(SDPBackend.FLASH_ATTENTION)
    backend = PYTORCH_KERNELS.get(name)  # flex: the model's own kernel, PyTorch's choice elsewhere
    return contextlib.nullcontext() if backend is None else sdpa_kernel(backend)


def activate(name: str, device: torch.device) -> bool:
    """Swaps PyTorch's flash kernel for ``name``'s on this process; True if it did."""
    if name not in FLASH_IMPLEMENTATIONS:
        return False
    check_device(name, device)
    from torch.nn.attention import activate_flash_attention_impl

    activate_flash_attention_impl(FLASH_IMPLEMENTATIONS[name][0])
    return True


@contextlib.contextmanager
def swapped_in(name: str, device: torch.device) -> Iterator[None]:
    """:func:`activate` for the duration of a block, then PyTorch's own kernel again (benchmarks)."""
    swapped = activate(name, device)
    try:
        yield
    finally:
        if swapped:
            restore()


def restore() -> None:
    """PyTorch's own flash kernel again (after :func:`activate`)."""
    restore_impl = getattr(torch.nn.attention, "restore_flash_attention_impl", None)
    if restore_impl is not None:
        restore_impl()
