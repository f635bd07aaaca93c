"""lm-evaluation-harness internals: the one method of its ``TemplateLM`` a model type must write.

``TemplateLM`` turns ``loglikelihood`` requests into token ids and hands them to the abstract
``_loglikelihood_tokens``, a private name its subclasses are required to define. :class:`HarnessLM`
defines it once, as a call of the public :meth:`HarnessLM.loglikelihood_tokens`, so gptlab's model
type (:mod:`gptlab.evaluation.harness`) writes no private name.
"""

from __future__ import annotations

from typing import Any

from lm_eval.api.model import TemplateLM

from gptlab.upstream import require

require(TemplateLM, "_loglikelihood_tokens", ["self", "requests"])

Request = tuple[tuple[str, str] | None, list[int], list[int]]


class HarnessLM(TemplateLM):
    def loglikelihood_tokens(
        self, requests: list[Request], disable_tqdm: bool = False
    ) -> list[tuple[float, bool]]:
        """(log-probability of each continuation given its context, whether greedy decoding
        would produce it), for requests of (cache key, context ids, continuation ids)."""
        raise NotImplementedError

    def _loglikelihood_tokens(
        self, requests: list[Request], disable_tqdm: bool = False, **kwargs: Any
    ) -> list[tuple[float, bool]]:
        return self.loglikelihood_tokens(requests, disable_tqdm=disable_tqdm)
