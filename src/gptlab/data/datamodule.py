"""LightningDataModules that serve next-token windows of a token stream."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from gptlab.data.batch_schedule import BatchSizeSchedule, ScheduledBatches, check_sizes
from gptlab.data.pydoc import pydoc_tokens
from gptlab.data.sampling import (
    ArrayTokens,
    TokenSource,
    WindowDataset,
    WindowSampler,
    check_sampling_mode,
    collate_batch,
)
from gptlab.data.shards import (
    ShardedTokens,
    ShardError,
    check_token_ids,
    check_vocabulary,
    has_split,
    read_manifest,
    split_paths,
)
from gptlab.errors import ConfigError, check_types
from gptlab.preemption import ignore_stop_signals
from gptlab.upstream.lightning import micro_batches_trained


class TokenDataModule(L.LightningDataModule):
    """Train and validation windows over two token streams, resumable mid-epoch.

    Subclasses say where the streams come from by overriding ``load_splits``. Each rank reads its
    own disjoint share of every epoch (so the Trainer must not add a DistributedSampler:
    ``trainer.use_distributed_sampler=false``, set by gptlab's trainer configs).
    """

    name = "tokens"

    def __init__(
        self,
        context_length: int,
        batch_size: int = 8,
        global_batch_size: int | None = None,
        batch_size_schedule: list[int] | None = None,
        stride: int | None = None,
        sampling: str = "sequential",
        shuffle: bool = True,
        seed: int = 0,
        vocab_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = True,
    ) -> None:
        super().__init__()
        arguments = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        check_types(typing.get_type_hints(TokenDataModule.__init__), arguments, "data")
        if batch_size < 1:
            raise ConfigError(f"data.batch_size={batch_size} must be >= 1")
        if num_workers < 0:
            raise ConfigError(f"data.num_workers={num_workers} must be >= 0")
        if stride is not None and stride < 1:
            raise ConfigError(f"data.stride={stride} must be >= 1 or null")
        check_sampling_mode(sampling)
        check_sizes(batch_size_schedule)
        if batch_size_schedule is not None and global_batch_size is not None:
            raise ConfigError(
                "data.batch_size_schedule sets the sequences of each step, data.global_batch_size "
                "fixes them: set one of the two to null"
            )
        self.context_length = context_length
        self.batch_size = batch_size
        self.global_batch_size = global_batch_size  # per optimizer step; sets gradient accumulation
        # training micro-batch sizes over the run (batch_schedule); validation keeps batch_size
        self.batch_size_schedule = tuple(batch_size_schedule) if batch_size_schedule else None
        self.schedule_steps: int | None = None  # the schedule's length: optim.decay_steps, set by
        # the run (so a run extended by a resume keeps its phases); None: trainer.max_steps
        self.stride = stride or context_length
        self.sampling = sampling
        self.shuffle = shuffle
        self.seed = seed
        self.vocab_size = vocab_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.splits: dict[str, TokenSource] = {}
        self._resume: dict[str, int] | None = None
        self.train_sampler: WindowSampler | None = None
        self._micro_batches_done = 0  # restored from a checkpoint: where the schedule resumes

    def load_splits(self) -> dict[str, TokenSource]:
        """{"train": tokens, "val": tokens}."""
        raise NotImplementedError

    def check(self) -> None:
        """That the data is there and fits the model, checked before a run writes anything (the
        run spec calls it once): the splits are opened here, and ``setup`` keeps them."""
        self.setup()

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.splits = self.load_splits()
        for split, tokens in self.splits.items():
            if len(tokens) < self.context_length + 1:
                raise ConfigError(
                    f"data.context_length={self.context_length} is too long for the {len(tokens)} "
                    f"tokens of the {self.name} {split} split; lower model.context_length or add data"
                )

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def sampler(self, split: str) -> WindowSampler:
        rank, world_size = self._rank()
        train = split == "train"
        sampler = WindowSampler(
            num_tokens=len(self.splits[split]),
            context_length=self.context_length,
            stride=self.stride if train else self.context_length,  # validation: each token once
            mode=self.sampling if train else "sequential",
            shuffle=self.shuffle and train,
            seed=self.seed,
            rank=rank,
            world_size=world_size,
        )
        if sampler.epoch_length() == 0:
            raise ConfigError(
                f"the {self.name} {split} split has too few windows of data.context_length="
                f"{self.context_length} for {world_size} rank(s); add data or lower the context"
            )
        if train:
            if self._resume is not None:
                sampler.resume(self._resume["epoch"], self._resume["windows_done"])
                self._resume = None
            self.train_sampler = sampler
        return sampler

    def batch_schedule(self) -> BatchSizeSchedule | None:
        """The training micro-batches' sizes over the run (``data.batch_size_schedule``), sized
        to the run's schedule (``schedule_steps``, else the trainer's steps); None for a fixed
        ``data.batch_size``."""
        if self.batch_size_schedule is None or self.trainer is None:
            return None
        trainer = self.trainer
        steps = self.schedule_steps or trainer.max_steps
        return BatchSizeSchedule(self.batch_size_schedule, steps, trainer.accumulate_grad_batches)

    def _loader(self, split: str) -> DataLoader:
        self.setup()
        train = split == "train"
        schedule = self.batch_schedule() if train else None
        if schedule is not None:
            batching = {"batch_sampler": ScheduledBatches(
                self.sampler(split), schedule, self._micro_batches_done)}  # fmt: skip
        else:  # equal-sized train batches; validation keeps every window
            batching = {"batch_size": self.batch_size, "sampler": self.sampler(split),
                        "drop_last": train}  # fmt: skip
        return DataLoader(
            WindowDataset(self.splits[split], self.context_length, self.vocab_size),
            **batching,
            collate_fn=collate_batch,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0,
            worker_init_fn=ignore_stop_signals,  # the main process stops the run and saves
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        self.setup()
        if "test" not in self.splits:
            raise ConfigError(
                f"the {self.name} data has no test split (only {sorted(self.splits)}); "
                "test=true needs held-out test data: set test=false, or use a corpus with one"
            )
        return self._loader("test")

    # the position of the train loader, saved in Lightning checkpoints for an exact resume
    def state_dict(self) -> dict[str, Any]:
        """(epoch, windows read in it) from the micro-batches trained so far: the loader itself
        reads ahead (prefetching workers), so its own position is not the trained one."""
        if self.trainer is None or self.train_sampler is None:
            return {}
        trained = micro_batches_trained(self.trainer)
        schedule = self.batch_schedule()
        if schedule is not None:
            epoch, windows = schedule.position_after(trained, self.train_sampler.epoch_length())
            return {"epoch": epoch, "windows_done": windows, "micro_batches": trained}
        batches_per_epoch = self.train_sampler.epoch_length() // self.batch_size  # drop_last
        epoch, batches = divmod(trained, batches_per_epoch)
        return {"epoch": epoch, "windows_done": batches * self.batch_size}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict:
            self._resume = {"epoch": state_dict["epoch"], "windows_done": state_dict["windows_done"]}
            self._micro_batches_done = int(state_dict.get("micro_batches", 0))


class PydocDataModule(TokenDataModule):
    """The embedded default: CPython's own documentation text, no download needed. Whole topics
    are held out for validation and test (:mod:`gptlab.data.pydoc`)."""

    name = "pydoc"

    def __init__(
        self, cache_dir: str, val_fraction: float = 0.1, test_fraction: float = 0.05, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0.0 < value < 1.0:
                raise ConfigError(f"data.{key}={value} must be between 0 and 1")
        if val_fraction + test_fraction >= 1.0:
            raise ConfigError("data.val_fraction + data.test_fraction must be below 1")
        self.cache_dir = Path(cache_dir)
        self.fractions = (val_fraction, test_fraction)

    def prepare_data(self) -> None:
        # runs once per node before setup(): build the cache so ranks do not race to write it
        pydoc_tokens(self.cache_dir, *self.fractions, seed=self.seed)

    def load_splits(self) -> dict[str, TokenSource]:
        tokens = pydoc_tokens(self.cache_dir, *self.fractions, seed=self.seed)
        return {split: ArrayTokens(ids) for split, ids in tokens.items()}


class ShardDataModule(TokenDataModule):
    """Prepared token shards in ``path`` (gptlab's, or llm.c / modded-nanogpt FineWeb shards).

    With a ``source`` (how to make the shards) and ``auto_prepare``, a missing folder is prepared
    on first use; otherwise run ``python -m gptlab prepare data=...`` first.
    """

    def __init__(
        self,
        path: str,
        source: dict[str, Any] | None = None,
        prepare: dict[str, Any] | None = None,
        auto_prepare: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = Path(path)
        self.name = str(self.path)
        self.source = source
        self.prepare_options = prepare or {}
        self.auto_prepare = auto_prepare

    def prepare_data(self) -> None:
        if read_manifest(self.path) is None and self.auto_prepare and self.source:
            from gptlab.data.prepare import prepare_corpus

            prepare_corpus(self.source, self.path, **self.prepare_options)

    def check(self) -> None:
        """The folder, its manifest's vocabulary, every shard's header and the splits' lengths
        (for llm.c's shards, which have no manifest, also every token id: a read of every token).
        A corpus that ``auto_prepare`` makes on first use is checked when it has been made."""
        if self.source and read_manifest(self.path) is None and self.auto_prepare:
            return  # prepared when the run starts
        self.setup()

    def load_splits(self) -> dict[str, TokenSource]:
        splits = self._open_splits()
        if self.vocab_size is not None and read_manifest(self.path) is None:
            for tokens in splits.values():  # no manifest (llm.c's shards): look at the ids once
                check_token_ids(tokens, self.vocab_size)
        return splits

    def _open_splits(self) -> dict[str, ShardedTokens]:
        if self.source and read_manifest(self.path) is None:
            where = self.source.get("name") or self.source.get("url") or self.source.get("path")
            raise ShardError(
                f"data.path={self.path} holds no prepared shards of {where}; prepare them first "
                "with python -m gptlab prepare and the same data=... options as this run"
            )
        if self.vocab_size is not None:
            check_vocabulary(self.path, self.vocab_size)
        splits = {s: ShardedTokens.open(split_paths(self.path, s)) for s in ("train", "val")}
        if has_split(self.path, "test"):
            splits["test"] = ShardedTokens.open(split_paths(self.path, "test"))
        return splits

