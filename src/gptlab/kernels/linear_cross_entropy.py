"""The output layer and cross-entropy as one operation whose gradient is formed in the forward pass.

The loss is a scalar, so its gradients with respect to the last hidden states and the output
weight can be computed as soon as the logits exist; the backward pass then only scales them by the
incoming gradient. The logits are never kept for the backward pass, and each is read and written
by one kernel instead of a forward and a backward kernel.

Per chunk of rows: logits -> (soft-cap) -> per-row float32 log-sum-exp -> the gradient with respect
to the logits, written over them -> the two gradient products. ``kernel`` picks who does the middle:

* ``torch``: PyTorch operations (any device; the reference).
* ``liger``: Liger-Kernel's Triton cross-entropy kernel (CUDA), which reads each row of logits and
  writes its gradient in place in one launch (:mod:`gptlab.upstream.liger`), with the launch
  setting ``launch`` (:mod:`gptlab.kernels.loss` picks it per GPU).

``chunk_rows`` bounds memory: with chunks, the logits of a whole batch are never held (for GPT-2 at
micro-batch 32 they are 3.3 GB in bf16). The numerics are those of ``F.cross_entropy`` on float32
logits computed from the autocast dtype's matrix product. Targets are token ids: there is no ignore
index. ``softcap`` c: logits -> c * tanh(logits / c) before the softmax, as the model computes them.

The operation is a ``torch.library`` custom op, so torch.compile treats it as one opaque call.
"""

from __future__ import annotations

import torch

from gptlab.upstream import liger

KERNELS = ("torch", "liger")
_ROW_ALIGN = 64  # logits rows padded to this many columns: aligned, faster matrix products


def _torch_rows(
    logits: torch.Tensor, vocab: int, targets: torch.Tensor, total: int, softcap: float | None
) -> torch.Tensor:
    """Sum over rows of cross-entropy / total; logits[:, :vocab] becomes its gradient."""
    real = logits[:, :vocab].float()
    if softcap is not None:
        tanh = torch.tanh(real / softcap)
        real = softcap * tanh
    lse = torch.logsumexp(real, dim=-1)
    loss = (lse - real.gather(1, targets[:, None]).squeeze(1)).sum() / total
    grad = torch.exp(real - lse[:, None])  # d loss / d capped logits = softmax - one-hot
    grad.scatter_add_(1, targets[:, None], -torch.ones_like(lse[:, None]))
    if softcap is not None:
        grad *= 1 - tanh * tanh  # d (c tanh(x / c)) / dx
    logits[:, :vocab] = grad / total
    return loss


def _product_f32(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` in float32: on CUDA straight from the 16-bit product's float32 accumulator."""
    if a.is_cuda and a.dtype in (torch.bfloat16, torch.float16):
        return torch.mm(a, b, out_dtype=torch.float32)
    return (a @ b).float()


@torch.library.custom_op("gptlab::linear_cross_entropy", mutates_args=())
def _linear_cross_entropy(
    x: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    vocab_size: int,
    chunk_rows: int,
    compute_dtype: torch.dtype,
    kernel: str,
    softcap: float | None,
    block_size: int,
    num_warps: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean loss, d loss / d x, d loss / d weight). The products run in ``compute_dtype``, given
    explicitly: under torch.compile an opaque op does not see the caller's autocast."""
    rows, width = x.shape
    padded = -(-vocab_size // _ROW_ALIGN) * _ROW_ALIGN
    # the output weight in the compute dtype, zero rows up to an aligned width: one copy, which
    # autocast would make anyway; zero rows give zero logits, whose gradients are zeroed below
    w = weight.new_zeros((padded, width), dtype=compute_dtype)
    w[:vocab_size] = weight[:vocab_size]
    launch = {"BLOCK_SIZE": block_size, "num_warps": num_warps}
    grad_x = torch.empty_like(x)
    grad_w = None
    total = torch.zeros((), dtype=torch.float32, device=x.device)
    for start in range(0, rows, chunk_rows):
        xs = x[start : start + chunk_rows].to(compute_dtype)
        logits = xs @ w.t()
        chunk_targets = targets[start : start + chunk_rows]
        if kernel == "liger":
            part = liger.cross_entropy_rows(
                logits, vocab_size, chunk_targets, rows, launch, softcap
            )
        else:
            part = _torch_rows(logits, vocab_size, chunk_targets, rows, softcap)
        total = total + part
        logits[:, vocab_size:] = 0  # padding columns are not tokens: no gradient
        grad_x[start : start + chunk_rows] = logits @ w
        product = _product_f32(logits.t(), xs)
        grad_w = product if grad_w is None else grad_w.add_(product)
    if grad_w.shape == weight.shape and grad_w.dtype == weight.dtype:
        return total, grad_x, grad_w  # the weight is padded to the aligned width already
    full = torch.zeros_like(weight)  # rows of a padded vocabulary past vocab_size: zero
    full[:vocab_size] = grad_w[:vocab_size]
    return total, grad_x, full


@_linear_cross_entropy.register_fake
def _(x, weight, targets, vocab_size, chunk_rows, compute_dtype, kernel, softcap, block_size,
      num_warps):  # noqa: ANN001, ANN202  # fmt: skip
    return x.new_empty((), dtype=torch.float32), torch.empty_like(x), torch.empty_like(weight)


def _save_gradients(ctx, inputs, output) -> None:  # noqa: ANN001
    ctx.save_for_backward(output[1], output[2])


def _scale_gradients(ctx, grad_loss, _grad_x, _grad_w):  # noqa: ANN001, ANN202
    grad_x, grad_w = ctx.saved_tensors
    return grad_x * grad_loss, grad_w * grad_loss, *([None] * 8)


_linear_cross_entropy.register_autograd(_scale_gradients, setup_context=_save_gradients)


def linear_cross_entropy(
    x: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    vocab_size: int | None = None,
    chunk_rows: int | None = 4096,
    kernel: str = "torch",
    softcap: float | None = None,
    launch: dict[str, int] | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of ``softcap(x @ weight[:vocab_size].T)`` against ``targets``.

    x (rows, emb), weight (padded vocab, emb), targets (rows,) token ids. Equal to
    ``F.cross_entropy((x @ weight.T)[:, :vocab_size].float(), targets)`` (soft-capped first when
    ``softcap`` is set) and its gradients. ``chunk_rows=None``: all rows in one chunk. Under
    autocast the products run in its dtype, as ``nn.Linear``'s would. ``launch``: Liger's
    ``BLOCK_SIZE`` and ``num_warps`` (``kernel="liger"``).
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel={kernel!r} must be one of {list(KERNELS)}")
    device = x.device.type
    low = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
    launch = launch or {"BLOCK_SIZE": 0, "num_warps": 0}
    loss, _, _ = _linear_cross_entropy(
        x,
        weight,
        targets,
        vocab_size or weight.shape[0],
        chunk_rows or x.shape[0],
        low,
        kernel,
        None if softcap is None else float(softcap),
        launch["BLOCK_SIZE"],
        launch["num_warps"],
    )
    return loss
