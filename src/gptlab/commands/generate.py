"""Generation: ``python generate.py ckpt_path=<.ckpt> | init_from=<Hugging Face folder> prompt=...``"""

from __future__ import annotations

import sys

import hydra
import torch
from omegaconf import DictConfig

from gptlab.commands import conf_dir
from gptlab.commands.cli import one_line_config_errors, user_errors
from gptlab.data.tokenizer import EOT_ID, decode, encode
from gptlab.errors import ConfigError
from gptlab.interop.hf import load_hf
from gptlab.model import GPT
from gptlab.model.generate import generate
from gptlab.training.checkpoint import model_from_checkpoint


def load_model(cfg: DictConfig) -> GPT:
    if bool(cfg.ckpt_path) == bool(cfg.init_from):
        raise ConfigError(
            "set exactly one of ckpt_path=<gptlab .ckpt> or init_from=<Hugging Face folder>"
        )
    if cfg.ckpt_path:
        return model_from_checkpoint(cfg.ckpt_path)
    config, state = load_hf(cfg.init_from)
    model = GPT(config)
    model.load_state_dict(state)
    return model.eval()


def run_generation(cfg: DictConfig) -> list[str]:
    """Print (streaming when one sample) and return the samples."""
    if cfg.num_samples < 1 or cfg.max_new_tokens < 0:
        raise ConfigError("num_samples must be >= 1 and max_new_tokens >= 0")
    device = (
        cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    model = load_model(cfg).to(device)
    ids = encode(cfg.prompt) or [EOT_ID]
    context = model.cfg.context_length
    if len(ids) > context:
        print(
            f"note: the prompt has {len(ids)} tokens; keeping its last {context} (the context)",
            file=sys.stderr,
        )
        ids = ids[-context:]
    idx = torch.tensor([ids] * cfg.num_samples, dtype=torch.long, device=device)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    stream = cfg.num_samples == 1
    new_ids: list[int] = []

    def show(token: torch.Tensor) -> None:  # print the text as it grows, whole characters only
        token_id = int(token[0, 0])
        if token_id == EOT_ID:
            return
        before = decode(new_ids)
        new_ids.append(token_id)
        text = decode(new_ids)
        if not text.endswith("\ufffd"):
            print(text[len(before) :] if text.startswith(before) else "", end="", flush=True)

    if stream:
        print(decode(ids), end="", flush=True)
    out = generate(
        model,
        idx,
        cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_k=cfg.top_k,
        top_p=cfg.top_p,
        generator=generator,
        use_cache=cfg.use_cache,
        on_token=show if stream else None,
    )
    samples = [decode([i for i in row.tolist() if i != EOT_ID]) for row in out]
    if stream:
        print()
    else:
        for n, text in enumerate(samples):
            print(f"--- sample {n + 1}\n{text}")
    return samples


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="generate")
def hydra_main(cfg: DictConfig) -> None:
    with user_errors():
        run_generation(cfg)


def main() -> None:
    one_line_config_errors()
    hydra_main()


if __name__ == "__main__":
    main()
