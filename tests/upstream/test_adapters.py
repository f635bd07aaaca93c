"""Every adapter to a private Lightning/Hydra/torch internal (gptlab.upstream) works with the
installed versions, and fails with a clear message when the name it relies on is gone."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from gptlab.upstream import UpstreamChanged, require
from gptlab.upstream import hydra as hydra_adapter
from gptlab.upstream import lightning as lightning_adapter
from gptlab.upstream import torch as torch_adapter


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
    lightning_adapter.skip_sigterm_broadcast(trainer)
    assert trainer.fit_loop.epoch_loop._broadcast_sigterm_tensor() is None  # no collective


def test_micro_batches_trained_reads_the_epoch_loop():
    import lightning as L

    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    assert lightning_adapter.micro_batches_trained(trainer) == 0
    trainer.fit_loop.epoch_loop.batch_progress.total.processed = 5
    assert lightning_adapter.micro_batches_trained(trainer) == 5


def test_ddp_strategy_builds_ddp_on_the_current_stream():
    from lightning.pytorch.strategies import DDPStrategy

    strategy = lightning_adapter.ddp_strategy(find_unused_parameters=False)
    assert isinstance(strategy, DDPStrategy)
    assert lightning_adapter.ddp_options(strategy)["gradient_as_bucket_view"] is True
    assert type(strategy)._setup_model is not DDPStrategy._setup_model


def test_subprocess_command_replaces_lightnings_in_both_launchers(monkeypatch):
    from lightning.fabric.strategies.launchers import subprocess_script as fabric_launcher
    from lightning.pytorch.strategies.launchers import subprocess_script as pytorch_launcher

    for launcher in (fabric_launcher, pytorch_launcher):
        monkeypatch.setattr(launcher, "_hydra_subprocess_cmd", launcher._hydra_subprocess_cmd)

    def command(local_rank):
        return ["python", "job.py", f"rank={local_rank}"], "/tmp"

    lightning_adapter.use_subprocess_command(command)
    assert pytorch_launcher._hydra_subprocess_cmd(1) == (["python", "job.py", "rank=1"], "/tmp")
    assert fabric_launcher._hydra_subprocess_cmd is command


def test_inductor_options_are_listed():
    assert "coordinate_descent_tuning" in torch_adapter.inductor_options()


def test_foreach_kernels_update_every_tensor():
    tensors = [torch.ones(2), torch.ones(3)]
    torch_adapter.foreach_add_(tensors, [torch.ones(2), torch.ones(3)], alpha=2.0)
    torch_adapter.foreach_mul_(tensors, 0.5)
    torch_adapter.foreach_copy_(tensors[:1], [torch.zeros(2)])
    assert tensors[0].tolist() == [0.0, 0.0] and tensors[1].tolist() == [1.5, 1.5, 1.5]


def test_keys_of_a_wrapped_compiled_module_lose_their_prefix():
    compiled = torch.compile(torch.nn.Linear(2, 2))
    assert [torch_adapter.without_compile_prefix(k) for k in compiled.state_dict()] == [
        "weight",
        "bias",
    ]


def test_hydra_messages_become_one_line():
    error = ValueError(
        "Could not override 'model.n_layer'.\nfull_key: model.n_layer\nobject_type=dict"
    )
    assert hydra_adapter.one_line(error) == "Could not override 'model.n_layer'."


def test_lightnings_own_atomic_save_is_found(tmp_path):
    lightning_adapter.lightning_atomic_save()({"a": torch.ones(1)}, str(tmp_path / "x.ckpt"))
    assert torch.load(tmp_path / "x.ckpt")["a"].item() == 1.0


def test_hydra_errors_go_to_the_handler_first(monkeypatch):
    from hydra._internal import utils as hydra_utils

    monkeypatch.setattr(hydra_utils, "run_and_report", hydra_utils.run_and_report)
    seen = []
    hydra_adapter.report_hydra_errors_with(seen.append)
    assert hydra_utils.run_and_report(lambda: 42) == 42
    failure = ValueError("bad override")
    with pytest.raises(SystemExit):  # Hydra's own report of an error the handler let through
        hydra_utils.run_and_report(lambda: (_ for _ in ()).throw(failure))
    assert seen == [failure]


def test_adapters_refuse_a_changed_upstream(monkeypatch):
    from lightning.pytorch.loops.training_epoch_loop import _TrainingEpochLoop

    monkeypatch.delattr(_TrainingEpochLoop, "_broadcast_sigterm_tensor")
    with pytest.raises(UpstreamChanged, match="_broadcast_sigterm_tensor no longer exists"):
        lightning_adapter.skip_sigterm_broadcast(SimpleNamespace())


def test_wandb_init_gets_no_anonymous_argument(tmp_path):
    from lightning.pytorch.loggers import WandbLogger

    from gptlab.upstream.wandb import drop_unset_init_arguments

    logger = WandbLogger(save_dir=str(tmp_path), mode="disabled")
    assert "anonymous" in require(logger, "_wandb_init")  # what Lightning passes
    drop_unset_init_arguments(logger)
    assert "anonymous" not in require(logger, "_wandb_init")
