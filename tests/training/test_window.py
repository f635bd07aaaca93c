"""The sliding window's schedule (gptlab.training.window): from module.attn_window_start to
model.attn_window, and its settings checked before a run starts."""

from __future__ import annotations

import re

import pytest

from gptlab.errors import ConfigError
from gptlab.training.window import check_schedule, window_at


def test_the_window_grows_in_blocks_to_the_models_by_the_end_of_its_span():
    windows = [window_at(step, 100, 128, 1024, 1.0) for step in range(100)]
    assert windows[0] == 128 and windows[-1] == 1024  # the last step trains the model's window
    assert windows == sorted(windows) and all(w % 64 == 0 for w in windows)
    assert window_at(49, 100, 128, 1024, 0.5) == 1024  # growth=0.5: full from mid-run on
    assert window_at(99, 100, 128, 1024, 0.5) == 1024
    assert window_at(0, 100, 100, 130, 1.0) == 100  # never below the start


@pytest.mark.parametrize(
    ("start", "growth", "final", "message"),
    [
        (64, 1.0, None, "module.attn_window_start grows a sliding window: set model.attn_window"),
        (512, 1.0, 256, "module.attn_window_start=512 is larger than model.attn_window=256"),
        (0, 1.0, 256, "module.attn_window_start=0 must be a positive integer or null"),
        (64, 0.0, 256, "module.attn_window_growth=0.0 must be in (0, 1]"),
    ],
)
def test_schedule_settings_are_checked(start, growth, final, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_schedule(start, growth, final)
    check_schedule(None, 1.0, None)  # no schedule: nothing to check


def test_the_training_module_sets_each_steps_window_and_the_models_own_at_the_end():
    from types import SimpleNamespace

    from gptlab.training.module import GPTModule

    model = {"vocab_size": 97, "context_length": 256, "emb_dim": 16, "n_heads": 2,
             "n_layers": 1, "attn_window": 256}  # fmt: skip
    module = GPTModule(model, {"decay_steps": 10}, attn_window_start=64)
    trainer = SimpleNamespace(global_step=0, max_steps=1000)  # decay_steps sets the span
    module._trainer = trainer
    seen = []
    for step in range(10):
        trainer.global_step = step
        module.on_train_batch_start(None, 0)
        seen.append(int(module.model.attn_window))
    assert seen == [window_at(s, 10, 64, 256, 1.0) for s in range(10)]
    assert seen[0] == 64 and seen[-1] == 256
    trainer.global_step = 0
    module.on_train_batch_start(None, 0)
    module.metrics.end = lambda trainer: None  # no run to summarise
    module.on_train_end()
    assert int(module.model.attn_window) == 256
    with pytest.raises(ConfigError, match="set model.attn_window"):
        GPTModule({**model, "attn_window": None}, attn_window_start=64)
