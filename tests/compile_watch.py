"""A callback for tests that must see whether training compiled anything (``+callbacks.graphs.
_target_=compile_watch.GraphCount``)."""

from __future__ import annotations

import lightning as L


class GraphCount(L.Callback):
    """Dynamo's count of graphs compiled at the end of each step (``GraphCount.counts``)."""

    counts: dict[int, int] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        from torch._dynamo.utils import counters

        GraphCount.counts[trainer.global_step] = counters["stats"]["unique_graphs"]
