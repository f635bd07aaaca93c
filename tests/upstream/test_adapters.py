"""Every adapter to a private Lightning/Hydra/torch internal (gptlab.upstream) works with the
installed versions, and fails with a clear message when the name it relies on is gone."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from gptlab import upstream as internals
from gptlab.upstream import UpstreamChanged, require


def test_require_names_what_changed():
    class Upstream:
        def hook(self, model):
            return model

    assert require(Upstream, "hook", ["self", "model"]) is Upstream.hook
    with pytest.raises(UpstreamChanged, match=r"Upstream.gone no longer exists"):
        require(Upstream, "gone")
    with pytest.raises(UpstreamChanged, match=r"Upstream.hook now takes \['self', 'model'\]"):
        require(Upstream, "hook", ["self", "module"])


def test_sigterm_broadcast_is_skipped_on_the_trainers_loop():
    import lightning as L

    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    internals.skip_sigterm_broadcast(trainer)
    assert trainer.fit_loop.epoch_loop._broadcast_sigterm_tensor() is None  # no collective


def test_micro_batches_trained_reads_the_epoch_loop():
    import lightning as L

    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    assert internals.micro_batches_trained(trainer) == 0
    trainer.fit_loop.epoch_loop.batch_progress.total.processed = 5
    assert internals.micro_batches_trained(trainer) == 5


def test_ddp_strategy_builds_ddp_on_the_current_stream():
    from lightning.pytorch.strategies import DDPStrategy

    strategy = internals.ddp_strategy(find_unused_parameters=False)
    assert isinstance(strategy, DDPStrategy)
    assert strategy._ddp_kwargs["gradient_as_bucket_view"] is True
    assert type(strategy)._setup_model is not DDPStrategy._setup_model


def test_subprocess_command_replaces_lightnings_in_both_launchers(monkeypatch):
    from lightning.fabric.strategies.launchers import subprocess_script as fabric_launcher
    from lightning.pytorch.strategies.launchers import subprocess_script as pytorch_launcher

    for launcher in (fabric_launcher, pytorch_launcher):
        monkeypatch.setattr(launcher, "_hydra_subprocess_cmd", launcher._hydra_subprocess_cmd)

    def command(local_rank):
        return ["python", "job.py", f"rank={local_rank}"], "/tmp"

    internals.use_subprocess_command(command)
    assert pytorch_launcher._hydra_subprocess_cmd(1) == (["python", "job.py", "rank=1"], "/tmp")
    assert fabric_launcher._hydra_subprocess_cmd is command


def test_compiled_in_place_sees_module_compile():
    module = torch.nn.Linear(2, 2)
    assert not internals.compiled_in_place(module)
    module.compile()
    assert internals.compiled_in_place(module)


def test_hydra_errors_go_to_the_handler_first(monkeypatch):
    from hydra._internal import utils as hydra_utils

    monkeypatch.setattr(hydra_utils, "run_and_report", hydra_utils.run_and_report)
    seen = []
    internals.report_hydra_errors_with(seen.append)
    assert hydra_utils.run_and_report(lambda: 42) == 42
    failure = ValueError("bad override")
    with pytest.raises(SystemExit):  # Hydra's own report of an error the handler let through
        hydra_utils.run_and_report(lambda: (_ for _ in ()).throw(failure))
    assert seen == [failure]


def test_adapters_refuse_a_changed_upstream(monkeypatch):
    from lightning.pytorch.loops.training_epoch_loop import _TrainingEpochLoop

    monkeypatch.delattr(_TrainingEpochLoop, "_broadcast_sigterm_tensor")
    with pytest.raises(UpstreamChanged, match="_broadcast_sigterm_tensor no longer exists"):
        internals.skip_sigterm_broadcast(SimpleNamespace())
