import numpy as np
import pytest

from gptlab.data import PydocDataModule
from gptlab.data.pydoc import pydoc_tokens
from gptlab.data.tokenizer import EOT_ID
from gptlab.errors import ConfigError


def test_pydoc_corpus_is_tokenized_once_and_cached(tmp_path):
    tokens = pydoc_tokens(tmp_path)
    cached = list(tmp_path.glob("pydoc-*.bin"))
    assert len(cached) == 1
    assert tokens.dtype == np.uint16 and len(tokens) > 100_000
    assert (tokens == EOT_ID).sum() > 50  # one end-of-text after every document
    mtime = cached[0].stat().st_mtime_ns
    assert np.array_equal(pydoc_tokens(tmp_path), tokens)
    assert cached[0].stat().st_mtime_ns == mtime


def test_split_and_batches(cache_dir):
    dm = PydocDataModule(cache_dir=str(cache_dir), context_length=64, batch_size=4, stride=32)
    dm.prepare_data()
    dm.setup("fit")
    n = len(pydoc_tokens(cache_dir))
    train_tokens = int(n * 0.9)
    assert len(dm.train_set) == (train_tokens - 65) // 32 + 1
    assert len(dm.val_set) == (n - train_tokens - 65) // 64 + 1
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == y.shape == (4, 64)
    vx, vy = next(iter(dm.val_dataloader()))
    assert vx[0, 1:].tolist() == vy[0, :-1].tolist()


def test_context_too_long_for_the_corpus_names_the_key(cache_dir):
    dm = PydocDataModule(cache_dir=str(cache_dir), context_length=100_000, val_fraction=0.5)
    with pytest.raises(ConfigError, match="context_length=100000"):
        dm.setup("fit")


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [({"batch_size": 0}, "data.batch_size"), ({"val_fraction": 1.5}, "data.val_fraction")],
)
def test_bad_values_name_the_key(cache_dir, kwargs, key):
    with pytest.raises(ConfigError, match=key):
        PydocDataModule(cache_dir=str(cache_dir), context_length=8, **kwargs)
