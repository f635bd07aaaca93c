"""The output layer and cross-entropy as one operation whose gradient is formed in the forward pass.

The loss is a scalar, so its gradients with respect to the last hidden states and the output
weight can be computed as soon as the logits exist; the backward pass then only scales them by the
incoming gradient. The logits are never kept for the backward pass, and each is read and written
by one kernel instead of a forward and a backward kernel.

Per chunk of rows: logits -> per-row float32 log-sum-exp -> softmax minus one-hot, written over the
logits -> the two gradient products. ``kernel`` picks who does the middle step:

* ``torch``: PyTorch operations (any device; the reference).
* ``liger``: Liger-Kernel's Triton cross-entropy kernel (CUDA), which reads each row of logits and
  writes its gradient in place in one launch. Liger's own wrapper reads the number of targets back
  to the host (a sync every step), so the kernel is launched here with that number known up front.

``chunk_rows`` bounds memory: with chunks, the logits of a whole batch are never held (for GPT-2 at
micro-batch 32 they are 3.3 GB in bf16). The numerics are those of ``F.cross_entropy`` on float32
logits computed from the autocast dtype's matrix product. Targets are token ids: there is no ignore
index.

The operation is a ``torch.library`` custom op, so torch.compile treats it as one opaque call.
"""

from __future__ import annotations

import functools
import importlib.util

import torch

KERNELS = ("torch", "liger")
_ROW_ALIGN = 64  # logits rows padded to this many columns: aligned, faster matrix products


@functools.cache
def liger_available() -> bool:
    """Whether Liger-Kernel (and so Triton) can be imported."""
    return importlib.util.find_spec("liger_kernel") is not None


def _torch_rows(
    logits: torch.Tensor, vocab: int, targets: torch.Tensor, total: int
) -> torch.Tensor:
    """Sum over rows of cross-entropy / total; logits[:, :vocab] becomes its gradient."""
    real = logits[:, :vocab].float()
    lse = torch.logsumexp(real, dim=-1)
    loss = (lse - real.gather(1, targets[:, None]).squeeze(1)).sum() / total
    probs = torch.exp(real - lse[:, None])  # d loss / d logits = softmax - one-hot
    probs.scatter_add_(1, targets[:, None], -torch.ones_like(lse[:, None]))
    logits[:, :vocab] = probs / total
    return loss


# Liger's kernel at GPT-2's vocabulary (32,768 rows x 50,257 columns, bf16) on an H200, loss +
# gradient inside this op after the output layer's product (`python -m gptlab.benchmarks.loss
# --profile --launches ...`): blocks of 8,192 columns with 4 warps 4.16 ms, with 8 warps 5.1-5.2,
# Liger's own launch (blocks of 32,768, 32 warps) 8.7; torch.compile's kernels take 5.4-6.0 ms
HOPPER_LAUNCH = {"BLOCK_SIZE": 8192, "num_warps": 4}


def _liger_rows(
    logits: torch.Tensor, vocab: int, targets: torch.Tensor, total: int
) -> torch.Tensor:
    """As :func:`_torch_rows`, in Liger-Kernel's Triton kernel (one launch, in place)."""
    import triton
    from liger_kernel.ops.cross_entropy import MAX_FUSED_SIZE, liger_cross_entropy_kernel

    rows = logits.shape[0]
    losses = torch.zeros(rows, dtype=torch.float32, device=logits.device)  # per row, / total
    major = torch.cuda.get_device_capability(logits.device)[0]
    if major == 9:
        launch = HOPPER_LAUNCH
    else:  # Liger's own choice: 8 warps for 16-bit inputs on Blackwell, else 32
        warps = 8 if major >= 10 and logits.element_size() == 2 else 32
        launch = {
            "BLOCK_SIZE": min(MAX_FUSED_SIZE, triton.next_power_of_2(vocab)),
            "num_warps": warps,
        }
    liger_cross_entropy_kernel[(rows,)](
        X_ptr=logits,
        X_stride=logits.stride(0),
        Y_ptr=targets,
        Y_stride=targets.stride(0),
        weight_ptr=None,
        loss_ptr=losses,
        z_loss_ptr=None,
        loss_stride=losses.stride(0),
        token_accuracy_ptr=None,
        token_accuracy_stride=0,
        predicted_tokens_ptr=None,
        predicted_tokens_stride=0,
        n_cols=vocab,
        n_non_ignore=total,
        sum_non_ignore_weight=total,
        weight_sum=0.0,
        ignore_index=-100,
        lse_square_scale=0.0,
        label_smoothing=0.0,
        reduction="mean",
        softcap=None,
        RETURN_Z_LOSS=False,
        RETURN_TOKEN_ACCURACY=False,
        RETURN_PREDICTED_TOKENS=False,
        HAS_WEIGHT=False,
        HAS_SOFTCAPPING=False,
        HAS_GRADIENTS=True,
        **launch,
    )
    return losses.sum()


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
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean loss, d loss / d x, d loss / d weight). The products run in ``compute_dtype``, given
    explicitly: under torch.compile an opaque op does not see the caller's autocast."""
    rows, width = x.shape
    padded = -(-vocab_size // _ROW_ALIGN) * _ROW_ALIGN
    # the output weight in the compute dtype, zero rows up to an aligned width: one copy, which
    # autocast would make anyway; zero rows give zero logits, whose gradients are zeroed below
    w = weight.new_zeros((padded, width), dtype=compute_dtype)
    w[:vocab_size] = weight[:vocab_size]
    rows_of = _liger_rows if kernel == "liger" else _torch_rows
    grad_x = torch.empty_like(x)
    grad_w = None
    total = torch.zeros((), dtype=torch.float32, device=x.device)
    for start in range(0, rows, chunk_rows):
        xs = x[start : start + chunk_rows].to(compute_dtype)
        logits = xs @ w.t()
        total = total + rows_of(logits, vocab_size, targets[start : start + chunk_rows], rows)
        logits[:, vocab_size:] = 0  # padding columns are not tokens: no gradient
        grad_x[start : start + chunk_rows] = logits @ w
        part = _product_f32(logits.t(), xs)
        grad_w = part if grad_w is None else grad_w.add_(part)
    if grad_w.shape == weight.shape and grad_w.dtype == weight.dtype:
        return total, grad_x, grad_w  # the weight is padded to the aligned width already
    full = torch.zeros_like(weight)  # rows of a padded vocabulary past vocab_size: zero
    full[:vocab_size] = grad_w[:vocab_size]
    return total, grad_x, full


@_linear_cross_entropy.register_fake
def _(x, weight, targets, vocab_size, chunk_rows, compute_dtype, kernel):  # noqa: ANN001, ANN202
    return x.new_empty((), dtype=torch.float32), torch.empty_like(x), torch.empty_like(weight)


def _save_gradients(ctx, inputs, output) -> None:  # noqa: ANN001
    ctx.save_for_backward(output[1], output[2])


def _scale_gradients(ctx, grad_loss, _grad_x, _grad_w):  # noqa: ANN001, ANN202
    grad_x, grad_w = ctx.saved_tensors
    return grad_x * grad_loss, grad_w * grad_loss, None, None, None, None, None


_linear_cross_entropy.register_autograd(_scale_gradients, setup_context=_save_gradients)


def linear_cross_entropy(
    x: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    vocab_size: int | None = None,
    chunk_rows: int | None = 4096,
    kernel: str = "torch",
) -> torch.Tensor:
    """Mean cross-entropy of ``x @ weight[:vocab_size].T`` against ``targets``.

    x (rows, emb), weight (padded vocab, emb), targets (rows,) token ids. Equal to
    ``F.cross_entropy((x @ weight.T)[:, :vocab_size].float(), targets)`` and its gradients.
    ``chunk_rows=None``: all rows in one chunk. Under autocast the products run in its dtype, as
    ``nn.Linear``'s would.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel={kernel!r} must be one of {list(KERNELS)}")
    device = x.device.type
    low = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
    loss, _, _ = _linear_cross_entropy(
        x,
        weight,
        targets,
        vocab_size or weight.shape[0],
        chunk_rows or x.shape[0],
        low,
        kernel,
    )
    return loss
