import numpy as np
import pytest

from gptlab.data.shards import (
    HEADER_BYTES,
    MAGIC,
    ShardedTokens,
    ShardError,
    open_shard,
    split_paths,
    write_shard,
)


def test_round_trip_in_llmc_format(tmp_path):
    tokens = np.array([0, 1, 50256, 65535], dtype=np.uint16)
    write_shard(tmp_path / "a.bin", tokens)
    header = np.fromfile(tmp_path / "a.bin", dtype=np.int32, count=3)
    assert header.tolist() == [MAGIC, 1, 4]
    assert (tmp_path / "a.bin").stat().st_size == HEADER_BYTES + 8
    mapped = open_shard(tmp_path / "a.bin")
    assert isinstance(mapped, np.memmap)
    assert mapped.tolist() == tokens.tolist()
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed away


def test_reads_cross_shard_boundaries(tmp_path):
    for i in range(3):
        write_shard(tmp_path / f"s_train_{i}.bin", np.arange(10 * i, 10 * i + 10))
    stream = ShardedTokens.open(split_paths(tmp_path, "train"))
    assert len(stream) == 30
    assert stream.read(7, 16).tolist() == list(range(7, 23))
    assert stream.path_at(25).name == "s_train_2.bin"


def test_truncated_shard_is_named(tmp_path):
    write_shard(tmp_path / "a.bin", np.arange(100))
    data = (tmp_path / "a.bin").read_bytes()
    (tmp_path / "a.bin").write_bytes(data[:-10])
    with pytest.raises(ShardError, match="a.bin: truncated"):
        open_shard(tmp_path / "a.bin")


def test_wrong_header_is_named(tmp_path):
    np.arange(1000, dtype=np.uint16).tofile(tmp_path / "raw.bin")  # a nanoGPT-style file, no header
    with pytest.raises(ShardError, match="raw.bin: not a token shard"):
        open_shard(tmp_path / "raw.bin")


def test_wrong_dtype_version_is_named(tmp_path):
    header = np.zeros(256, dtype=np.int32)
    header[:3] = (MAGIC, 2, 4)
    (tmp_path / "v2.bin").write_bytes(header.tobytes() + np.arange(4, dtype=np.uint32).tobytes())
    with pytest.raises(ShardError, match="v2.bin: shard version 2"):
        open_shard(tmp_path / "v2.bin")


def test_llmc_folder_without_manifest(tmp_path):
    write_shard(tmp_path / "fineweb_val_000000.bin", np.arange(10))
    write_shard(tmp_path / "fineweb_train_000001.bin", np.arange(10))
    write_shard(tmp_path / "fineweb_train_000002.bin", np.arange(10))
    assert [p.name for p in split_paths(tmp_path, "train")] == [
        "fineweb_train_000001.bin",
        "fineweb_train_000002.bin",
    ]
    with pytest.raises(ShardError, match="no manifest.json and no \\*test\\*.bin"):
        split_paths(tmp_path, "test")
