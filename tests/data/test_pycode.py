"""data=pycode: this machine's Python files as a corpus, deduplicated, split by content."""

from __future__ import annotations

import pytest

import sysconfig

import numpy as np

from gptlab.data.prepare import is_validation_text, prepare_corpus
from gptlab.data.shards import ShardedTokens, split_paths
from gptlab.data.tokenizer import decode


def files(folder, contents: dict[str, str]):
    for name, text in contents.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def all_text(folder, split: str) -> str:
    tokens = ShardedTokens.open(split_paths(folder, split))
    return decode(tokens.read(0, len(tokens)).tolist())


def prepare(roots, out, **kwargs):
    source = {"kind": "pycode", "roots": [str(r) for r in roots], **kwargs.pop("source", {})}
    options = {"val_fraction": 0.3, "split_by": "content", "progress": False, "num_proc": 1}
    return prepare_corpus(source, out, **{**options, **kwargs})


def test_files_are_read_once_and_split_by_their_content(tmp_path):
    contents = {f"pkg/m{i}.py": f"def f{i}(x):\n    return x + {i}\n" for i in range(40)}
    a = files(tmp_path / "a", {**contents, "vendored/copy.py": contents["pkg/m3.py"]})
    manifest = prepare([a], tmp_path / "out_a")
    assert manifest["pieces"] == 40  # the vendored copy is read once
    assert manifest["source"]["roots"] == [str(a.resolve())]
    assert any(d.startswith("torch==") for d in manifest["source"]["distributions"])
    val = all_text(tmp_path / "out_a", "val")
    held_out = {n for n, t in contents.items() if is_validation_text(t, 0.3, 0)}
    assert held_out and all(contents[n] in val for n in held_out)
    # another machine with more files: the shared files land in the same splits
    b = files(tmp_path / "b", {**contents, "extra/new.py": "print('only here')\n"})
    prepare([b], tmp_path / "out_b")
    val_b = all_text(tmp_path / "out_b", "val")
    assert all((contents[n] in val_b) == (n in held_out) for n in contents)


def test_the_standard_library_prepares_offline_up_to_max_tokens(tmp_path):
    stdlib = sysconfig.get_paths()["stdlib"]
    manifest = prepare([stdlib], tmp_path / "out", val_fraction=0.2, source={"max_tokens": 100_000})
    tokens = sum(split["tokens"] for split in manifest["splits"].values())
    assert 100_000 <= tokens < 400_000  # whole files, stopped soon after the cap
    train = ShardedTokens.open(split_paths(tmp_path / "out", "train"))
    assert np.asarray(train.read(0, 1000)).max() < 50257
    assert "import" in decode(train.read(0, 5000).tolist())



@pytest.mark.slow
def test_stopping_at_max_tokens_never_hangs_on_the_work_still_queued(tmp_path, monkeypatch):
    """Stopping at ``source.max_tokens`` with large files still to read: multiprocessing's
    terminate() of a pool fed by a generator could wait forever on a task too large for the pipe
    (``prepare data=pycode`` once hung for 9.5 minutes on a GPU machine, once in this suite)."""
    import threading
    import time

    from gptlab.data import prepare as preparing

    reading = preparing.iter_pieces

    def slow_disk(*args, **kwargs):  # files that take a while to read, as on a cold disk
        for piece in reading(*args, **kwargs):
            time.sleep(0.01)
            yield piece

    monkeypatch.setattr(preparing, "iter_pieces", slow_disk)

    big = {f"m{i:03d}.py": f"x_{i} = {i}\n" * 12_000 for i in range(120)}  # ~100 KB each
    folder = files(tmp_path / "src", big)
    for attempt in range(3):  # the hang was a race: three stops in a row
        done: list[dict] = []
        out = tmp_path / f"out{attempt}"
        worker = threading.Thread(
            target=lambda: done.append(
                prepare([folder], out, num_proc=2, source={"max_tokens": 50_000})
            ),
            daemon=True,  # a hang fails this test instead of blocking the suite's exit
        )
        worker.start()
        worker.join(timeout=60)
        assert not worker.is_alive(), "prepare did not return after reaching max_tokens"
        tokens = sum(split["tokens"] for split in done[0]["splits"].values())
        assert 50_000 <= tokens < 120 * 40_000  # stopped at whole batches, long before the end


def test_a_corpus_cut_before_any_validation_file_says_what_to_raise(tmp_path):
    import pytest

    from gptlab.data.pieces import SourceError

    contents = {f"m{i}.py": f"def f{i}(x):\n    return x + {i}\n" for i in range(40)}
    folder = files(tmp_path / "src", contents)
    train_only = [n for n, t in contents.items() if not is_validation_text(t, 0.3, 0)]
    # the first file in path order is a training file: stopping after it leaves no validation
    assert sorted(contents)[0] in train_only
    with pytest.raises(SourceError, match="went to validation; raise data.prepare.val_fraction"):
        prepare([folder], tmp_path / "out", source={"max_tokens": 1}, batch_pieces=1)
