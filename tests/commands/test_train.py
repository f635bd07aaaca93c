"""Training end to end: through Hydra's compose in-process, and train.py as a user runs it."""

from __future__ import annotations

import json

import pytest

from conftest import column, read_metrics, run_cli, tiny
from gptlab.commands.train import optimized_value, train
from gptlab.runtime.spec import architecture


def test_short_training_through_compose_lowers_the_loss(compose_train, tmp_path):
    cfg = compose_train("optim.lr=3e-3", "optim.warmup_steps=5", "trainer.max_steps=40")
    metrics = train(cfg)
    rows = read_metrics(tmp_path / "run")
    train_loss, val_loss = column(rows, "train/loss"), column(rows, "val/loss")
    assert train_loss[0] > 10.0  # about ln(50257) = 10.8 at the start
    assert train_loss[-1] < train_loss[0] - 2.0
    assert val_loss[-1] < val_loss[0]
    assert metrics["val/ppl"] == pytest.approx(2.718281828 ** metrics["val/loss"], rel=1e-4)
    assert optimized_value(cfg, metrics) == metrics["val/loss"]
    assert column(rows, "lr")  # the schedule is logged
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    steps = [int(r["step"]) for r in rows if r.get("val/loss")]
    assert steps == [10, 20, 30, 40]  # every 10 steps (a row is the step it follows), no repeat


def test_a_run_shorter_than_the_validation_interval_ends_with_a_validation(compose_train, tmp_path):
    metrics = train(compose_train("trainer.max_steps=7", "trainer.val_check_interval=50"))
    rows = read_metrics(tmp_path / "run")
    assert [int(r["step"]) for r in rows if r.get("val/loss")] == [7]
    assert metrics["val/loss"] == column(rows, "val/loss")[-1]


def test_without_the_best_checkpoint_validations_write_no_checkpoint(compose_train, tmp_path):
    # Lightning adds a ModelCheckpoint of its own when none is configured: a full checkpoint under
    # the logger's folder at every validation (seconds each for GPT-2 124M on a GPU)
    cfg = compose_train(
        "callbacks.model_checkpoint=null", "trainer.max_steps=4", "trainer.val_check_interval=2"
    )
    train(cfg)
    written = sorted(
        p.relative_to(tmp_path / "run").as_posix() for p in (tmp_path / "run").rglob("*.ckpt")
    )
    assert written == ["checkpoints/last.ckpt"]
    assert [int(r["step"]) for r in read_metrics(tmp_path / "run") if r.get("val/loss")] == [2, 4]


def test_the_progress_line_counts_optimizer_steps(compose_train, caplog, tmp_path):
    """Off a terminal (here: pytest's captured output) the progress is one plain line per metrics
    row: the step out of max_steps, elapsed and remaining time, the logged loss and tokens/s."""
    cfg = compose_train(
        "trainer.enable_progress_bar=true",
        "data.global_batch_size=8",  # 2 micro-batches per optimizer step
        "trainer.max_steps=7",
        "trainer.log_every_n_steps=3",
    )
    with caplog.at_level("INFO", logger="progress"):
        metrics = train(cfg)
    lines = [r.getMessage() for r in caplog.records if r.name == "progress"]
    validations = [line for line in lines if line.startswith("validation at step")]
    assert [v.split(":")[0] for v in validations] == [
        "validation at step 5",
        "validation at step 7",
    ]
    lines = [line for line in lines if line not in validations]
    assert [line.split(" | ")[0] for line in lines] == [
        "step 1/7",
        "step 3/7",
        "step 6/7",
        "step 7/7",
    ]
    assert "elapsed" in lines[-1] and "left" in lines[-1] and "tok/s" in lines[-1]
    # rows at the first step, every 3 steps and the last one; the run's token count is exact
    rows = read_metrics(tmp_path / "run")
    tokens = {int(r["step"]): float(r["train/tokens"]) for r in rows if r.get("lr")}
    assert tokens == {1: 1 * 8 * 32, 3: 3 * 8 * 32, 6: 6 * 8 * 32, 7: 7 * 8 * 32}
    assert metrics["train/tokens"] == 7 * 8 * 32
    loss = {int(r["step"]): float(r["train/loss"]) for r in rows if r.get("train/loss")}
    shown = {
        int(line.split()[1].split("/")[0]): line.split("loss ")[1].split()[0] for line in lines
    }
    assert shown == {step: f"{value:.4f}" for step, value in loss.items()}  # the logged loss


def test_a_model_of_other_token_ids_trains_without_text_samples(compose_train, tmp_path):
    """model.vocab_size below GPT-2's 50257 (data=tokens of another tokenizer): the text samples
    and the final sample are skipped with a warning instead of failing at the end of training."""
    import numpy as np

    from gptlab.data.shards import write_shard

    ids = np.random.default_rng(0).integers(0, 512, 20_000, dtype=np.uint16)
    write_shard(tmp_path / "ids" / "x_train_000000.bin", ids)
    write_shard(tmp_path / "ids" / "x_val_000000.bin", ids[:5000])
    cfg = compose_train(
        "model.vocab_size=512",
        "data=tokens",
        f"data.path={tmp_path / 'ids'}",
        "trainer.max_steps=2",
        "callbacks.text_samples.every_n_steps=1",
    )
    with pytest.warns(UserWarning, match="model.vocab_size=512 < 50257.*text samples are off"):
        metrics = train(cfg)
    assert metrics["val/loss"] < 7  # ln(512) = 6.2


def test_log_every_n_steps_0_turns_step_rows_off_as_in_lightning(compose_train, tmp_path):
    metrics = train(compose_train("trainer.log_every_n_steps=0", "trainer.max_steps=4"))
    rows = read_metrics(tmp_path / "run")
    step_keys = ("train/loss", "lr", "perf/tokens_per_s")  # (validation rows carry the tokens)
    assert not [r for r in rows if any(r.get(k) for k in step_keys)]
    assert [int(r["step"]) for r in rows if r.get("val/loss")] == [4]
    assert metrics["train/tokens"] == 4 * 4 * 32  # the run's count is still exact


def test_test_true_evaluates_the_held_out_test_split(compose_train):
    metrics = train(compose_train("test=true", "trainer.max_steps=4"))
    assert 0 < metrics["test/loss"] < 11
    assert metrics["test/loss"] != metrics["val/loss"]  # another split, not the validation one


@pytest.mark.parametrize("preset", ["llama_124m", "modern_124m"])
def test_the_architecture_presets_train_and_compose_with_switches(compose_train, preset):
    small = ["model.emb_dim=64", "model.n_heads=4", "model.n_layers=2", "model.context_length=32"]
    cfg = compose_train(f"model={preset}", *small, "model.mlp=swiglu", "trainer.max_steps=6")
    assert architecture(cfg.model).mlp == "swiglu" and architecture(cfg.model).pos_emb == "rope"
    metrics = train(cfg)
    assert 0 < metrics["val/loss"] < 11


def test_model_overrides_just_work(compose_train):
    cfg = compose_train(
        "model.n_layers=4",
        "model.n_heads=4",
        "model.emb_dim=128",
        "model.drop_rate=0.0",
        tiny_run=False,
    )
    config = architecture(cfg.model)
    assert (config.n_layers, config.n_heads, config.emb_dim, config.hidden_dim) == (4, 4, 128, 512)
    assert cfg.data.context_length == config.context_length


@pytest.mark.parametrize(
    ("name", "layers", "width", "heads"),
    [
        ("gpt2_124m", 12, 768, 12),
        ("gpt2_medium", 24, 1024, 16),
        ("gpt2_large", 36, 1280, 20),
        ("gpt2_xl", 48, 1600, 25),
    ],
)
def test_gpt2_family_configs(compose_train, name, layers, width, heads):
    cfg = compose_train(f"model={name}", tiny_run=False)
    config = architecture(cfg.model)
    assert (config.n_layers, config.emb_dim, config.n_heads) == (layers, width, heads)
    assert (config.vocab_size, config.context_length, config.qkv_bias) == (50257, 1024, False)


def test_the_gpt2_fineweb_experiment_composes_to_the_recipe(compose_train):
    cfg = compose_train("experiment=gpt2_124m_fineweb_edu", tiny_run=False)
    model = architecture(cfg.model)
    assert (model.emb_dim, model.n_layers, model.padded_vocab_size) == (768, 12, 50304)
    assert cfg.data.global_batch_size * cfg.data.context_length == 524_288
    assert cfg.trainer.strategy._target_ == "gptlab.runtime.distributed.ddp_strategy"
    assert cfg.trainer.max_steps == 19073
    assert cfg.kernels.compile is True


@pytest.mark.slow
def test_train_py_runs_and_prints_a_sample(tmp_path):
    result = run_cli(
        "train.py", *tiny(), "debug=fast", "callbacks.target.val_loss=11", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Sample from the trained model:" in result.stdout
    assert "GPT: " in result.stdout + result.stderr  # the model summary with its parameter count
    (run,) = (tmp_path / "logs" / "debug" / "runs").iterdir()
    assert (run / ".hydra" / "config.yaml").is_file()
    assert (run / "csv" / "metrics.csv").is_file()
    recorded = json.loads((run / "result.json").read_text())
    assert recorded["target_reached"] == 1.0 and recorded["steps_to_target"] == 10  # 1st validation
    quiet = result.stdout + result.stderr
    for noise in ("💡 Tip", "Total Flops", "already configured with model summary", "Epoch"):
        assert noise not in quiet


@pytest.mark.slow
def test_two_real_steps_of_gpt2_124m(compose_train, caplog):
    cfg = compose_train(
        "model=gpt2_124m",
        "model.context_length=64",  # every weight of GPT-2 small but 960 position rows
        "data=pydoc",  # tokenized once per test session; the default corpus is prepared per folder
        "trainer.max_steps=2",
        "data.batch_size=1",
        "trainer.accelerator=cpu",
        "trainer.limit_val_batches=1",
        "sample.max_new_tokens=2",
        "callbacks.last_checkpoint=null",  # no 1.5 GB checkpoint writes
        "callbacks.model_checkpoint=null",
        "logger=csv",
        tiny_run=False,
    )
    with caplog.at_level("INFO"):
        metrics = train(cfg)
    assert f"{124_412_160 - 960 * 768:,} parameters" in caplog.text
    assert metrics["val/loss"] < 11.5


def test_the_optimizer_searches_compose(compose_train):
    from hydra import compose, initialize_config_dir

    from conftest import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=["optim=muon", "hparams_search=optuna_muon"],
            return_hydra_config=True,
        )
    assert set(cfg.hydra.sweeper.params) == {
        "optim.lr", "optim.adamw_lr", "optim.momentum", "optim.warmup_steps", "optim.weight_decay"
    }  # fmt: skip
    assert cfg.optim.name == "muon" and cfg.hydra.sweeper.study_name == "muon_search"


def test_the_final_validation_is_one_like_the_others(compose_train, tmp_path):
    """A run that ends between validations validates inside training at its last step: logged
    under that step, and a candidate for the best checkpoint."""
    metrics = train(
        compose_train("trainer.max_steps=12", "trainer.val_check_interval=5", "optim.lr=3e-3")
    )
    rows = read_metrics(tmp_path / "run")
    assert [int(r["step"]) for r in rows if r.get("val/loss")] == [5, 10, 12]
    assert metrics["val/loss"] == column(rows, "val/loss")[-1]
    best = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step*.ckpt"))
    assert best == ["step000012.ckpt"]  # the loss falls: the final weights are the best


def test_a_run_shorter_than_the_logging_interval_logs_its_first_and_last_step(
    compose_train, tmp_path
):
    train(compose_train("trainer.max_steps=5", "trainer.log_every_n_steps=10"))
    rows = read_metrics(tmp_path / "run")
    assert [int(r["step"]) for r in rows if r.get("train/loss")] == [1, 5]


def test_debug_fast_keeps_no_checkpoint_and_no_wandb_run(compose_train, tmp_path):
    train(compose_train("debug=fast", "logger=csv", tiny_run=True))
    assert not list((tmp_path / "run").rglob("*.ckpt"))
    cfg = compose_train("debug=fast", tiny_run=False)
    assert list(cfg.logger) == ["csv"] and cfg.checkpoints == "none"


def test_the_default_run_is_the_tiny_model_on_this_machines_python_code(compose_train):
    cfg = compose_train(tiny_run=False)
    assert cfg.data.source.kind == "pycode" and cfg.data.source.max_tokens == 5_000_000
    assert architecture(cfg.model).n_layers == 2 and cfg.sample.prompt == ""
