"""GPU scalars read on the host without draining the GPU's queue.

Reading a GPU value (``.item()``, ``float()``) makes the host wait until the GPU has run every
kernel queued so far; the GPU then idles while the host queues the next step. Done at every
logging step, that costs a few percent of a GPT-2 step on an H200 (docs/benchmarks.md). Here a
logging step queues a non-blocking copy of its scalars into pinned host memory, behind the kernels
that compute them, and reads the copy queued at the previous logging step, which landed long ago.
The values are exact, and reach the loggers one logging interval late, under their own step.
"""

from __future__ import annotations

import torch


class HostValues:
    """``exchange(step, values)``: queue this step's device scalars for the host and get back the
    (step, values) queued by the previous call, as floats, without waiting for the GPU. On the
    CPU there is nothing to wait for: the call returns this step's own values."""

    def __init__(self) -> None:
        self._pending: tuple[int, list[str], torch.Tensor, torch.cuda.Event | None] | None = None

    def exchange(
        self, step: int, values: dict[str, torch.Tensor | float]
    ) -> tuple[int, dict[str, float]] | None:
        names = list(values)
        tensors = [torch.as_tensor(v).detach().float().reshape(()) for v in values.values()]
        device = next((t.device for t in tensors if t.is_cuda), torch.device("cpu"))
        stacked = torch.stack([t.to(device, non_blocking=True) for t in tensors])
        if not stacked.is_cuda:
            self._pending = None
            return step, dict(zip(names, stacked.tolist(), strict=True))
        landed = self.take()
        host = torch.empty(stacked.shape, dtype=torch.float32, pin_memory=True)
        host.copy_(stacked, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._pending = (step, names, host, event)
        return landed

    def take(self) -> tuple[int, dict[str, float]] | None:
        """The values queued last (waiting for them if they have not landed: at the end of
        training), or None."""
        if self._pending is None:
            return None
        step, names, host, event = self._pending
        self._pending = None
        if event is not None and not event.query():
            event.synchronize()  # only when read early (the end of training)
        return step, dict(zip(names, host.tolist(), strict=True))
