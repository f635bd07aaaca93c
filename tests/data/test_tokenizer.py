import shutil

import pytest

from gptlab.data import tokenizer
from gptlab.errors import GptlabError


def test_bundled_files_are_found_without_network():
    files = tokenizer.bundled_bpe_files()
    assert files is not None
    assert [f.name for f in files] == ["vocab.bpe", "encoder.json"]


def test_known_gpt2_ids_and_end_of_text():
    assert tokenizer.encode("Hello world") == [15496, 995]
    assert tokenizer.encode("<|endoftext|>") == [tokenizer.EOT_ID] == [50256]
    assert tokenizer.gpt2_encoding().n_vocab == 50257


@pytest.mark.parametrize(
    "text",
    ["", "plain ascii", "déjà vu — naïve café 日本語 🙂", "def f(x):\n\treturn x  # tabs\n\n", "a<|endoftext|>b"],
)
def test_round_trip(text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_tampered_file_is_refused(tmp_path):
    vocab, encoder = tokenizer.bundled_bpe_files()
    shutil.copy(vocab, tmp_path / "vocab.bpe")
    (tmp_path / "encoder.json").write_text(encoder.read_text() + " ")
    with pytest.raises(GptlabError, match="encoder.json.*sha256"):
        tokenizer.encoding_from_files(tmp_path / "vocab.bpe", tmp_path / "encoder.json")


def test_a_vocabulary_smaller_than_gpt2s_cannot_read_text():
    from gptlab.data.tokenizer import check_reads_gpt2_tokens
    from gptlab.errors import ConfigError

    check_reads_gpt2_tokens(50304, "generate")  # padded: fine
    with pytest.raises(ConfigError, match="generate needs .* model.vocab_size=512 < 50257"):
        check_reads_gpt2_tokens(512, "generate")
