"""Reads the records of an offline W&B run (``run-<id>.wandb``) for tests.

The file is W&B's transaction log: a 7-byte header, then LevelDB-style blocks of 32 KiB holding
records (crc32, length, type: full / first / middle / last) that are ``wandb_internal_pb2.Record``
protobufs.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2 as pb

BLOCK, HEADER, FILE_HEADER = 32768, 7, 7


def records(path: Path) -> list[pb.Record]:
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    out, pending, pos = [], b"", FILE_HEADER
    while pos + HEADER <= len(data):
        room = BLOCK - pos % BLOCK
        if room < HEADER:
            pos += room
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if length == 0 and kind == 0:  # block padding
            pos += room
            continue
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == 1:
            out.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            out.append(pending + chunk)
    parsed = []
    for raw in out:
        record = pb.Record()
        record.ParseFromString(raw)
        parsed.append(record)
    return parsed


def summarize(run_dir: Path) -> dict[str, Any]:
    """run id, group, name, tags, config keys, history rows and exit code of one offline run."""
    (log,) = run_dir.glob("run-*.wandb")
    result: dict[str, Any] = {"history": [], "config": {}, "exit_code": None, "console": 0}
    for record in records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            result.update(
                id=run.run_id, group=run.run_group, name=run.display_name, tags=list(run.tags)
            )
            result["config"].update({i.key: json.loads(i.value_json) for i in run.config.update})
        elif kind == "config":
            result["config"].update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            row = {
                i.key or "/".join(i.nested_key): json.loads(i.value_json)
                for i in record.history.item
            }
            result["history"].append(row)
        elif kind == "exit":
            result["exit_code"] = record.exit.exit_code
        elif kind in ("output", "output_raw"):  # what W&B captured of the console
            result["console"] += 1
    return result
