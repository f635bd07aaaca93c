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
