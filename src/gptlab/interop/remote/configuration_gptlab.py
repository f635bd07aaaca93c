"""The ``transformers`` config of a gptlab model: its architecture as gptlab's ``GPTConfig`` keys
(``gptlab``), and the few names other tools read (context length, vocabulary, tied head)."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig


class GptlabConfig(PretrainedConfig):
    model_type = "gptlab"

    def __init__(self, gptlab: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.gptlab = dict(gptlab or {})
        arch = self.gptlab
        # what generation, lm-eval and the like look up under their usual names
        self.max_position_embeddings = arch.get("context_length", 1024)
        self.hidden_size = arch.get("emb_dim", 768)
        self.num_hidden_layers = arch.get("n_layers", 12)
        self.num_attention_heads = arch.get("n_heads", 12)
        kwargs.setdefault("vocab_size", arch.get("vocab_size", 50257))
        kwargs.setdefault("tie_word_embeddings", arch.get("tie_weights", True))
        super().__init__(**kwargs)
