"""gptlab models in EleutherAI's lm-evaluation-harness (``pip install -e ".[eval]"``).

    python -m gptlab lm_eval --model gptlab --model_args ckpt_path=run/checkpoints/last.ckpt \\
        --tasks hellaswag,arc_easy --batch_size 32

Importing this module registers the model type ``gptlab``; ``python -m gptlab lm_eval`` imports
it and then runs the harness's own command line, so every harness option works. In Python:
``lm_eval.simple_evaluate(model=GptlabLM(ckpt_path=...), tasks=[...])``.

Any gptlab checkpoint (``ckpt_path``) or Hugging Face folder (``init_from``: GPT-2, Llama, Qwen3
layouts), whatever its architecture. Log-likelihoods are computed in batches of requests sorted by
length (right-padded: a causal model's scores do not see the padding), in bf16 autocast on GPUs;
``generate_until`` goes through gptlab's KV-cached generation.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F
from lm_eval.api.registry import register_model
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window
from tqdm import tqdm

from gptlab.checkpoints.weights import load_model
from gptlab.data.tokenizer import EOT_ID, decode, encode
from gptlab.model.generate import generate
from gptlab.upstream.lm_eval import HarnessLM, Request


@register_model("gptlab")
class GptlabLM(HarnessLM):
    """A gptlab model as the harness's ``LM``: ``ckpt_path`` or ``init_from`` (``--model_args``),
    ``dtype`` (``bfloat16``/``float16`` autocast, or ``float32``; default: bfloat16 on GPUs); the
    harness's own ``--batch_size`` (requests per forward pass) and ``--device`` (cuda when there
    is one, else the CPU)."""

    def __init__(
        self,
        ckpt_path: str | None = None,
        init_from: str | None = None,
        device: str | None = None,
        batch_size: int | str = 16,
        dtype: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if not device or (str(device).startswith("cuda") and not torch.cuda.is_available()):
            device = "cuda" if torch.cuda.is_available() else "cpu"  # the harness's default: cuda
        self.torch_device = torch.device(device)
        self.model = load_model(ckpt_path, init_from).to(self.torch_device).eval()
        self.max_length = self.model.cfg.context_length
        self.batch_size = int(batch_size) if str(batch_size).isdigit() else 16  # "auto": 16
        dtype = dtype or ("bfloat16" if self.torch_device.type == "cuda" else "float32")
        self.autocast_dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(dtype)

    @property
    def eot_token_id(self) -> int:
        return EOT_ID

    @property
    def device(self) -> torch.device:
        return self.torch_device

    def tok_encode(
        self, string: str, add_special_tokens: bool | None = None, **kwargs: Any
    ) -> list[int]:
        return encode(string)

    def tok_decode(self, tokens: list[int], **kwargs: Any) -> str:
        return decode(tokens)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.torch_device.type, dtype=self.autocast_dtype)

    @torch.no_grad()
    def loglikelihood_tokens(
        self, requests: list[Request], disable_tqdm: bool = False
    ) -> list[tuple[float, bool]]:
        """(log-probability of the continuation given the context, whether greedy decoding
        would produce it) per request; the inputs keep their last ``context_length`` tokens."""
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        order = sorted(range(len(requests)), key=lambda i: -len(requests[i][1] + requests[i][2]))
        bar = tqdm(total=len(requests), disable=disable_tqdm, desc="gptlab log-likelihoods")
        for first in range(0, len(order), self.batch_size):
            indices = order[first : first + self.batch_size]
            rows, targets = [], []
            for i in indices:
                _, context, continuation = requests[i]
                whole = (context + continuation)[-(self.max_length + 1) :]
                rows.append(whole[:-1])
                targets.append(whole[-len(continuation) :] if continuation else [])
            length = max(len(row) for row in rows)
            tokens = torch.full((len(rows), length), EOT_ID, dtype=torch.long)
            for r, row in enumerate(rows):
                tokens[r, : len(row)] = torch.tensor(row)
            with self.autocast():
                logits = self.model.forward(tokens.to(self.torch_device))
            for r, i in enumerate(indices):
                n = len(targets[r])
                end = len(rows[r])
                picked = F.log_softmax(logits[r, end - n : end].float(), dim=-1)
                target = torch.tensor(targets[r], device=self.torch_device)
                logprob = picked.gather(1, target[:, None]).sum().item()
                greedy = bool((picked.argmax(dim=-1) == target).all())
                results[i] = (logprob, greedy)
                if requests[i][0] is not None:
                    self.cache_hook.add_partial("loglikelihood", requests[i][0], results[i])
            bar.update(len(indices))
        bar.close()
        return results  # type: ignore[return-value]

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        """The log-likelihood of whole texts, in disjoint windows of the model's context."""
        out = []
        for request in tqdm(requests, disable=disable_tqdm, desc="gptlab rolling"):
            (text,) = request.args
            windows = [
                make_disjoint_window(window)
                for window in get_rolling_token_windows(
                    token_list=self.tok_encode(text),
                    prefix_token=self.prefix_token_id,
                    max_seq_len=self.max_length,
                    context_len=1,
                )
            ]
            scores = self.loglikelihood_tokens(
                [(None, context, continuation) for context, continuation in windows],
                disable_tqdm=True,
            )
            total = sum(logprob for logprob, _ in scores)
            self.cache_hook.add_partial("loglikelihood_rolling", (text,), total)
            out.append(total)
        return out

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        """Greedy (or sampled, with ``do_sample``/``temperature``) text after each context, cut at
        the first of the ``until`` strings."""
        out = []
        for request in tqdm(requests, disable=disable_tqdm, desc="gptlab generate"):
            context, options = request.args
            options = dict(options or {})
            until = options.pop("until", None) or [decode([EOT_ID])]
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(options.pop("max_gen_toks", 256))
            sample = bool(options.pop("do_sample", False))
            temperature = float(options.pop("temperature", 1.0 if sample else 0.0))
            prompt = self.tok_encode(context)
            start = min(len(prompt), self.max_length)  # generate() keeps a long prompt's end

            idx = torch.tensor([prompt], device=self.torch_device)
            with self.autocast():
                idx = generate(
                    self.model,
                    idx,
                    max_new,
                    temperature=temperature if sample else 0.0,
                    stop_token=EOT_ID,
                    stop=stop_strings_after(start, until),
                )
            new_tokens = idx[0, start:].tolist()
            text = decode([t for t in new_tokens if t != EOT_ID])
            for stop in until:
                text = text.split(stop)[0]
            self.cache_hook.add_partial("generate_until", (context, request.args[1]), text)
            out.append(text)
        return out


def stop_strings_after(start: int, until: list[str]) -> Any:
    """For :func:`~gptlab.model.generate.generate`: stop once the text generated after token
    ``start`` holds one of the ``until`` strings."""

    def reached(idx: torch.Tensor) -> bool:
        text = decode(idx[0, start:].tolist())
        return any(stop in text for stop in until)

    return reached
