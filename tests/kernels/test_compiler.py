"""torch.compile around a batch-size schedule: every size compiled before the clock starts."""

from __future__ import annotations

from compile_watch import GraphCount


def test_a_batch_size_schedule_compiles_nothing_once_training_runs(compose_train):
    """Each size's graphs are compiled before the clock (and Muon's at the first step), so a
    phase's first step compiles nothing inside the training time. The warm-up once passed views
    of one tensor: the graphs guarded on their base, and a real batch compiled again."""
    from gptlab.commands.train import train

    GraphCount.counts = {}
    run = compose_train("optim=muon", "kernels.compile=true", "trainer.max_steps=9",
                        "trainer.limit_val_batches=0", "sample.max_new_tokens=0",
                        "data.batch_size_schedule=[2,4,6]",
                        "+callbacks.graphs._target_=compile_watch.GraphCount")  # fmt: skip
    train(run)
    assert GraphCount.counts[9] == GraphCount.counts[1], GraphCount.counts
