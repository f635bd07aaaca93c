"""Generation: ``python generate.py ckpt_path=<.ckpt> | init_from=<Hugging Face folder> prompt=...``"""

from __future__ import annotations

import sys

import torch
from omegaconf import DictConfig

from gptlab.checkpoints.weights import load_model
from gptlab.commands.cli import user_errors
from gptlab.commands.entry import run_hydra
from gptlab.data.tokenizer import EOT_ID, check_reads_gpt2_tokens, decode, encode
from gptlab.errors import ConfigError, check_types
from gptlab.model.generate import generate
from gptlab.text import TextStream

SETTINGS = {"num_samples": int, "max_new_tokens": int, "temperature": float,
            "top_p": float | None, "top_k": int | None}  # fmt: skip


def check_settings(cfg: DictConfig) -> None:
    """One line for a sampling setting that cannot work."""
    check_types(SETTINGS, {key: cfg.get(key) for key in SETTINGS}, group="")
    if cfg.num_samples < 1:
        raise ConfigError(f"num_samples={cfg.num_samples} must be >= 1")
    if cfg.max_new_tokens < 0:
        raise ConfigError(f"max_new_tokens={cfg.max_new_tokens} must be >= 0")
    if cfg.temperature < 0:
        raise ConfigError(f"temperature={cfg.temperature} must be >= 0 (0: greedy)")
    if cfg.top_p is not None and not 0 < cfg.top_p <= 1:
        raise ConfigError(f"top_p={cfg.top_p} must be in (0, 1] or null (e.g. top_p=0.95)")
    if cfg.top_k is not None and cfg.top_k < 1:
        raise ConfigError(f"top_k={cfg.top_k} must be >= 1 or null")


def run_generation(cfg: DictConfig) -> list[str]:
    """Print (streaming when one sample) and return the samples. An empty prompt starts from
    <|endoftext|>, as GPT-2's unconditional samples do, without printing it."""
    check_settings(cfg)
    device = (
        cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    model = load_model(cfg.ckpt_path, cfg.init_from).to(device)
    check_reads_gpt2_tokens(model.cfg.vocab_size, "generate")
    prompt_ids = encode(cfg.prompt)
    ids = prompt_ids or [EOT_ID]
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
    printer = TextStream(lambda text: print(text, end="", flush=True))
    if stream:
        print(decode(prompt_ids[-context:]), end="", flush=True)
    out = generate(
        model,
        idx,
        cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_k=cfg.top_k,
        top_p=cfg.top_p,
        stop_token=EOT_ID,
        generator=generator,
        use_cache=cfg.use_cache,
        on_token=(lambda token: printer.add(int(token[0, 0]))) if stream else None,
    )
    samples = [decode([i for i in row.tolist() if i != EOT_ID]) for row in out]
    if stream:
        print()
    else:
        for n, text in enumerate(samples):
            print(f"--- sample {n + 1}\n{text}")
    return samples


def generate_job(cfg: DictConfig) -> None:
    with user_errors():
        run_generation(cfg)


def main() -> None:
    run_hydra("generate", generate_job)


if __name__ == "__main__":
    main()
