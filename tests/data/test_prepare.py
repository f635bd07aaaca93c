import json

import numpy as np
import pytest

from gptlab.data import prepare as prepare_module
from gptlab.data.prepare import is_validation, prepare_corpus
from gptlab.data.shards import ShardedTokens, open_shard, split_paths
from gptlab.data.pieces import SourceError
from gptlab.data.sources import split_text
from gptlab.data.tokenizer import EOT_ID, decode, encode

OPTIONS = dict(shard_tokens=3000, val_fraction=0.2, piece_chars=2000, num_proc=2, progress=False)


def make_corpus(folder, docs=12):
    folder.mkdir()
    texts = []
    for i in range(docs):
        text = "\n\n".join(f"Document {i}, paragraph {j}: the quick brown fox {i * j}." for j in range(60))
        (folder / f"doc{i:02d}.txt").write_text(text)
        texts.append(text)
    return texts


def test_text_folder_to_shards_with_a_consistent_manifest(tmp_path):
    texts = make_corpus(tmp_path / "corpus")
    manifest = prepare_corpus({"path": str(tmp_path / "corpus")}, tmp_path / "out", **OPTIONS)
    total = 0
    for split in ("train", "val"):
        info = manifest["splits"][split]
        assert info["tokens"] > 0
        assert sum(s["tokens"] for s in info["shards"]) == info["tokens"]
        for shard in info["shards"]:
            assert len(open_shard(tmp_path / "out" / shard["file"])) == shard["tokens"]
        total += info["tokens"]
    assert len(manifest["splits"]["train"]["shards"]) >= 2  # shard_tokens cut it into parts
    # pieces are tokenized separately, so merges across a cut may differ by a token or two
    assert abs(total - sum(len(encode(t)) + 1 for t in texts)) <= 2 * manifest["pieces"]
    assert manifest["tokenizer"] == "gpt2" and manifest["vocab_size"] == 50257
    assert not (tmp_path / "out" / "progress.json").exists()
    train = ShardedTokens.open(split_paths(tmp_path / "out", "train"))
    val = ShardedTokens.open(split_paths(tmp_path / "out", "val"))
    eots = sum(int((s == EOT_ID).sum()) for s in [*train.shards, *val.shards])
    assert eots == len(texts)  # one <|endoftext|> after each document, none inside


def test_jsonl_and_parquet_go_through_datasets(tmp_path):
    rows = [{"text": f"row {i}: " + "words " * 50, "id": i} for i in range(40)]
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    manifest = prepare_corpus({"path": str(tmp_path / "c.jsonl")}, tmp_path / "j", **OPTIONS)
    tokens = manifest["splits"]["train"]["tokens"] + manifest["splits"]["val"]["tokens"]
    assert tokens == sum(len(encode(r["text"])) + 1 for r in rows)

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"body": r["text"]} for r in rows]), tmp_path / "c.parquet")
    source = {"path": str(tmp_path / "c.parquet"), "text_field": "body"}
    parquet = prepare_corpus(source, tmp_path / "p", **OPTIONS)
    assert parquet["splits"]["train"]["tokens"] + parquet["splits"]["val"]["tokens"] == tokens
    table = pa.Table.from_pylist([{"text": r["text"]} for r in rows])
    with pa.OSFile(str(tmp_path / "c.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    arrow = prepare_corpus({"path": str(tmp_path / "c.arrow")}, tmp_path / "a", **OPTIONS)
    assert arrow["splits"] == manifest["splits"]
    with pytest.raises(SourceError, match="text_field='text'.*body"):
        prepare_corpus({"path": str(tmp_path / "c.parquet")}, tmp_path / "q", **OPTIONS)


def test_interrupted_prepare_resumes_without_redoing_finished_shards(tmp_path, monkeypatch):
    make_corpus(tmp_path / "corpus", docs=20)
    source = {"path": str(tmp_path / "corpus")}
    reference = prepare_corpus(source, tmp_path / "ref", **OPTIONS)

    real_flush = prepare_module.PartWriter.flush
    calls = {"n": 0}

    def flush_then_die(self, *args):
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed while working on the third part
        calls["n"] += 1
        real_flush(self, *args)

    monkeypatch.setattr(prepare_module.PartWriter, "flush", flush_then_die)
    with pytest.raises(KeyboardInterrupt):
        prepare_corpus(source, tmp_path / "out", **OPTIONS)
    progress = json.loads((tmp_path / "out" / "progress.json").read_text())
    assert len(progress["parts"]) == 2 and not (tmp_path / "out" / "manifest.json").exists()
    finished = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("*_00000[01].bin")}
    assert finished

    monkeypatch.setattr(prepare_module.PartWriter, "flush", real_flush)
    tokenized = []
    real_tokenize = prepare_module.tokenize_pieces
    monkeypatch.setattr(prepare_module, "tokenize_pieces", lambda b, **kw: tokenized.append(b[0][0]) or real_tokenize(b, **kw))
    monkeypatch.setattr(prepare_module.multiprocessing, "get_context", lambda _: _SerialContext())
    resumed = prepare_corpus(source, tmp_path / "out", **OPTIONS)
    assert min(tokenized) == progress["pieces_done"]  # finished pieces were not tokenized again
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # finished shards untouched
    assert resumed["splits"] == reference["splits"]  # same shards, same checksums


class _SerialContext:
    """Runs the pool's work in this process, so a test can observe it."""

    def Pool(self, _n, initializer=None):  # noqa: N802 - mirrors multiprocessing's API
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def apply_async(self, fn, args):
        return _Done(fn(*args))

    def close(self):
        pass

    def join(self):
        pass


class _Done:
    def __init__(self, value):
        self.value = value

    def get(self):
        return self.value


def test_non_utf8_bytes_are_replaced_and_counted(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_bytes(b"good text \xff\xfe and more\n" * 200)
    manifest = prepare_corpus({"path": str(tmp_path / "c")}, tmp_path / "o", **OPTIONS)
    assert manifest["replaced_bytes"] == 400
    shard = open_shard(tmp_path / "o" / manifest["splits"]["val"]["shards"][0]["file"])
    assert "\ufffd" in decode(shard.tolist())


@pytest.mark.parametrize(
    ("setup", "source", "message"),
    [
        (lambda d: None, {"path": "missing/*.txt"}, "data.source.path=.*missing.*matches no file"),
        (lambda d: (d / "e.txt").write_text(""), {"path": "{d}/e.txt"}, "corpus is empty"),
        (lambda d: None, {"kind": "hf", "name": "HuggingFaceFW/fineweb-edu"}, "huggingface.co.*cannot reach"),
        (lambda d: None, {"kind": "fancy", "path": "x"}, "data.source.kind='fancy'"),
    ],
)
def test_bad_sources_get_one_clear_error(tmp_path, monkeypatch, setup, source, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    setup(tmp_path)
    source = {k: v.format(d=tmp_path) if isinstance(v, str) else v for k, v in source.items()}
    with pytest.raises(SourceError, match=message):
        prepare_corpus(source, tmp_path / "out", **OPTIONS)


def test_validation_choice_is_seeded_and_near_the_fraction():
    chosen = [is_validation(i, 0.1, seed=0) for i in range(20_000)]
    assert chosen[0]
    assert 0.09 < np.mean(chosen) < 0.11
    assert chosen == [is_validation(i, 0.1, seed=0) for i in range(20_000)]
    assert chosen != [is_validation(i, 0.1, seed=1) for i in range(20_000)]


def test_split_text_prefers_paragraph_breaks():
    text = "a" * 50 + "\n\n" + "b" * 50 + "\n" + "c" * 120
    pieces = list(split_text(text, 100))
    assert "".join(pieces) == text
    assert pieces[0] == "a" * 50 + "\n\n"
    assert all(len(p) <= 100 for p in pieces)
