"""A gptlab GPT as a ``transformers`` causal language model: gptlab's own module inside
(``gptlab_gpt.GPT``), so the logits are gptlab's. Generation recomputes the whole sequence each
step (no ``past_key_values``)."""

from __future__ import annotations

from typing import Any

import torch
import transformers
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from .configuration_gptlab import GptlabConfig
from .gptlab_attention import Rotary
from .gptlab_config import GPTConfig
from .gptlab_gpt import GPT, cross_entropy

# the output head is the token embedding when tie_word_embeddings (transformers 5 names the
# pair; 4 the tied copy only)
TIED = {"model.lm_head.weight": "model.tok_emb.weight"}
if int(transformers.__version__.split(".")[0]) < 5:
    TIED = list(TIED)


class GptlabForCausalLM(PreTrainedModel, GenerationMixin):
    config_class = GptlabConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    _no_split_modules = ["Block"]
    _tied_weights_keys = TIED

    def __init__(self, config: GptlabConfig) -> None:
        super().__init__(config)
        arch = dict(config.gptlab, drop_rate=0.0)  # dropout is a training setting
        self.model = GPT(GPTConfig.from_dict(arch))
        self.post_init()

    def _init_weights(self, module: torch.nn.Module) -> None:
        """The weights come from the folder; the rotary tables and the sliding window, which it
        does not hold (they derive from the config), are set again where transformers made
        placeholders."""
        if isinstance(module, Rotary) and module.cos.device.type != "meta":
            cos, sin = Rotary.tables(self.model.cfg, device=module.cos.device)
            with torch.no_grad():
                module.cos.copy_(cos)
                module.sin.copy_(sin)
        window = getattr(module, "attn_window", None)
        if isinstance(module, GPT) and window is not None and window.device.type != "meta":
            module.set_attn_window(module.cfg.attn_window)

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.model.tok_emb

    def get_output_embeddings(self) -> torch.nn.Module:
        return self.model.lm_head

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        """Logits of every position; with ``labels`` (the inputs, as transformers passes them)
        also the mean next-token loss."""
        logits = self.model(input_ids)
        loss = None
        if labels is not None:
            loss = cross_entropy(logits[:, :-1], labels[:, 1:])
        return CausalLMOutputWithPast(loss=loss, logits=logits)

    def prepare_inputs_for_generation(
        self, input_ids: torch.LongTensor, **kwargs: Any
    ) -> dict[str, Any]:
        return {"input_ids": input_ids[:, -self.model.cfg.context_length :]}
