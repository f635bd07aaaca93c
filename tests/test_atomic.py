"""Atomic writes: temporary files of killed writers are removed, those of live writers kept."""

from __future__ import annotations

import json
import os

from gptlab import atomic


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    # another process (here: our parent) writing the same file at the same time, e.g. two nodes
    # of a job on one machine both building a cache
    live = tmp_path / f".cache.bin{atomic.TEMP_MARK}{os.getppid()}"
    dead = tmp_path / f".cache.bin{atomic.TEMP_MARK}999999"
    live.write_bytes(b"being written")
    dead.write_bytes(b"left by a killed writer")
    atomic.write_bytes(tmp_path / "cache.bin", [b"abc"])
    assert live.exists() and not dead.exists()
    assert (tmp_path / "cache.bin").read_bytes() == b"abc"


def test_json_and_text_round_trip(tmp_path):
    atomic.write_json(tmp_path / "a" / "x.json", {"k": 1})
    assert json.loads((tmp_path / "a" / "x.json").read_text()) == {"k": 1}
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.json"]


def test_a_full_disk_is_one_line_and_the_previous_file_stays(tmp_path, monkeypatch):
    import errno
    import shutil
    from collections import namedtuple

    import pytest

    from gptlab.commands.cli import error_message

    target = tmp_path / "last.ckpt"
    atomic.write_bytes(target, [b"step 10"])

    def no_space(f):
        f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(Exception) as full:
        atomic.atomic_write(target, no_space)
    message = error_message(full.value)
    assert message.startswith(f"cannot write {target}: no space left on its disk")
    assert target.read_bytes() == b"step 10" and [p.name for p in tmp_path.iterdir()] == [
        "last.ckpt"
    ]

    # torch.save says only "file write failed": the disk's free space tells why
    def torch_save_failed(f):
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(100, 100, 0))
    with pytest.raises(Exception) as full:
        atomic.atomic_write(target, torch_save_failed)
    assert "no space left on its disk (0 bytes free)" in error_message(full.value)


class FullDisk:
    """A file whose disk fills after ``room`` bytes, as ``open`` in gptlab.atomic returns it."""

    def __init__(self, room: int) -> None:
        self.room = room

    def open(self, path, mode="r", *args, **kwargs):
        import errno
        import io

        room = self.room

        class Filling(io.FileIO):
            def write(self, data):
                nonlocal room
                room -= len(data)
                if room < 0:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return super().write(data)

        return Filling(path, mode)


def test_torch_save_on_a_full_disk_names_the_bytes_needed_and_free(tmp_path, monkeypatch):
    """torch.save raises its own RuntimeError ("unexpected pos") over the ENOSPC of the file: still
    the full-disk line, with about the file's size."""
    import pytest
    import torch

    from gptlab.commands.cli import error_message

    target = tmp_path / "last.ckpt"
    atomic.torch_save({"w": torch.zeros(250_000)}, target)  # 1 MB
    before = target.read_bytes()
    monkeypatch.setattr(atomic, "open", FullDisk(room=100_000).open, raising=False)
    with pytest.raises(Exception) as full:
        atomic.torch_save({"w": torch.ones(250_000), "tied": [torch.ones(1)]}, target)
    message = error_message(full.value)
    assert message.startswith(f"cannot write {target}: no space left on its disk (it needs about ")
    assert "1.0 MB" in message and " free)" in message and "\n" not in message, message
    assert target.read_bytes() == before
    assert atomic.tensor_bytes({"a": (w := torch.ones(10)), "b": [w, w[2:]]}) == 40
