import os
import signal
import time

import numpy as np
import pytest

from gptlab.data import PydocDataModule, ShardDataModule
from gptlab.data.pydoc import pydoc_documents, pydoc_tokens, split_documents
from gptlab.data.shards import ShardError, write_shard
from gptlab.data.tokenizer import EOT_ID
from gptlab.errors import ConfigError


def test_pydoc_corpus_is_tokenized_once_and_cached(tmp_path):
    tokens = pydoc_tokens(tmp_path)
    cached = sorted(tmp_path.glob("pydoc-*.bin"))
    assert [p.name.split("-")[-1] for p in cached] == [
        "test.uint16.bin",
        "train.uint16.bin",
        "val.uint16.bin",
    ]
    assert all(t.dtype == np.uint16 for t in tokens.values())
    assert sum(len(t) for t in tokens.values()) > 100_000
    assert (tokens["train"] == EOT_ID).sum() > 50  # one end-of-text after every document
    mtimes = [p.stat().st_mtime_ns for p in cached]
    assert np.array_equal(pydoc_tokens(tmp_path)["val"], tokens["val"])
    assert [p.stat().st_mtime_ns for p in cached] == mtimes


def test_pydoc_holds_out_whole_documents_by_a_seeded_hash(cache_dir):
    names = split_documents(pydoc_documents(), 0.1, 0.05, seed=0)
    assert sum(len(n) for n in names.values()) == len(pydoc_documents())
    assert not set(names["val"]) & set(names["train"]) and names["test"]
    assert split_documents(pydoc_documents(), 0.1, 0.05, seed=0) == names  # stable
    assert split_documents(pydoc_documents(), 0.1, 0.05, seed=1) != names  # seeded
    tokens = pydoc_tokens(cache_dir)
    # the held-out topics are prose like the rest: their tokens per character are alike
    chars = {s: sum(len(pydoc_documents()[n]) for n in names[s]) for s in names}
    ratios = {s: len(tokens[s]) / chars[s] for s in names}
    assert abs(ratios["val"] / ratios["train"] - 1) < 0.25, ratios


def test_pydoc_split_and_batches(cache_dir):
    dm = PydocDataModule(cache_dir=str(cache_dir), context_length=64, batch_size=4, stride=32)
    dm.prepare_data()
    dm.setup("fit")
    tokens = pydoc_tokens(cache_dir)
    assert {s: len(dm.splits[s]) for s in dm.splits} == {s: len(t) for s, t in tokens.items()}
    train = dm.train_dataloader()
    assert len(train.sampler) == (len(tokens["train"]) - 65) // 32 + 1
    assert len(dm.val_dataloader().sampler) == (len(tokens["val"]) - 65) // 64 + 1
    x, y = next(iter(train))
    assert x.shape == y.shape == (4, 64)
    assert x[0, 1:].tolist() == y[0, :-1].tolist()


def test_context_too_long_for_the_corpus_names_the_key(cache_dir):
    dm = PydocDataModule(cache_dir=str(cache_dir), context_length=100_000, val_fraction=0.5)
    with pytest.raises(ConfigError, match="context_length=100000"):
        dm.setup("fit")


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"batch_size": 0}, "data.batch_size"),
        ({"val_fraction": 1.5}, "data.val_fraction"),
        ({"sampling": "zigzag"}, "data.sampling"),
    ],
)
def test_bad_values_name_the_key(cache_dir, kwargs, key):
    with pytest.raises(ConfigError, match=key):
        PydocDataModule(cache_dir=str(cache_dir), context_length=8, **kwargs)


def test_restored_loader_yields_exactly_the_next_batches(tmp_path):
    write_shard(tmp_path / "x_train_000.bin", np.arange(5000) % 1000)
    write_shard(tmp_path / "x_val_000.bin", np.arange(500) % 1000)

    def module() -> ShardDataModule:
        return ShardDataModule(path=str(tmp_path), context_length=16, batch_size=4, seed=7)

    full = [x for x, _ in module().train_dataloader()]
    resumed = module()
    resumed.load_state_dict({"epoch": 0, "windows_done": 5 * 4})
    rest = [x for x, _ in resumed.train_dataloader()]
    assert len(rest) == len(full) - 5
    assert all(a.equal(b) for a, b in zip(rest, full[5:], strict=True))


def test_missing_shard_folder_says_how_to_prepare(tmp_path):
    dm = ShardDataModule(path=str(tmp_path / "nowhere"), context_length=8)
    with pytest.raises(ShardError, match="nowhere does not exist.*gptlab prepare"):
        dm.setup("fit")


def test_loader_workers_outlive_a_stop_signal_sent_to_the_whole_job(tmp_path):
    # scancel, preemption and Ctrl-C signal every process of a job: a worker killed by SIGTERM
    # made the main process die with "DataLoader worker is killed" instead of saving last.ckpt
    write_shard(tmp_path / "x_train_000.bin", np.arange(5000) % 1000)
    write_shard(tmp_path / "x_val_000.bin", np.arange(500) % 1000)
    dm = ShardDataModule(path=str(tmp_path), context_length=16, batch_size=4, num_workers=1)
    batches = iter(dm.train_dataloader())
    next(batches)
    for worker in batches._workers:
        os.kill(worker.pid, signal.SIGTERM)
        os.kill(worker.pid, signal.SIGUSR1)
    time.sleep(0.5)
    assert all(worker.is_alive() for worker in batches._workers)
    assert len(list(batches)) == 5000 // 16 // 4 - 1  # the rest of the epoch still arrives
