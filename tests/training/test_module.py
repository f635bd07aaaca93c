import pytest
import torch

from gptlab.errors import ConfigError
from gptlab.optim.config import OptimConfig
from gptlab.optim.groups import parameter_groups
from gptlab.training.module import GPTModule

TINY = dict(vocab_size=97, context_length=16, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0)


def test_weight_decay_only_on_matrices():
    module = GPTModule(model=TINY)
    decay, no_decay = parameter_groups(module.model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"])
    assert all(p.dim() == 1 for p in no_decay["params"])
    total = sum(p.numel() for g in (decay, no_decay) for p in g["params"])
    assert total == module.model.num_parameters()  # the tied matrix appears once


def test_hyperparameters_are_plain_values():
    module = GPTModule(model=TINY, optim={"lr": 1e-3})
    assert module.hparams["model"]["emb_dim"] == 32
    assert module.hparams["optim"]["lr"] == 1e-3
    assert all(
        isinstance(v, (int, float, bool, str, type(None))) for v in module.hparams["model"].values()
    )


def test_optim_values_are_checked():
    with pytest.raises(ConfigError, match="optim.lr"):
        OptimConfig(lr=0)
    with pytest.raises(ConfigError, match="optim.lrr"):
        OptimConfig.from_dict({"lrr": 1.0})


def test_training_step_returns_the_scalar_loss_of_the_batch():
    module = GPTModule(model=TINY)
    x, y = torch.randint(0, 97, (2, 16)), torch.randint(0, 97, (2, 16))
    loss = module.training_step((x, y), 0)
    assert loss.shape == () and loss.requires_grad
    assert loss.item() == pytest.approx(module.model(x, y).item())
    assert module(x).shape == (2, 16, 97)  # forward: logits


def test_gradient_clipping_bounds_the_global_norm():
    from types import SimpleNamespace

    module = GPTModule(model=TINY)
    # a stand-in for the Trainer: no FSDP root, fp32
    module.trainer = SimpleNamespace(
        strategy=SimpleNamespace(model=module), precision="32-true", global_step=0
    )
    x = torch.randint(0, 97, (2, 16))
    (module.model(x, x) * 1000).backward()
    optimizer = torch.optim.AdamW(module.parameters())
    module.configure_gradient_clipping(
        optimizer, gradient_clip_val=0.5, gradient_clip_algorithm="norm"
    )
    assert module._step_norm > 0.5  # the norm before clipping, logged at the logging step
    assert module.nonfinite.skipped == 0
    norm = torch.linalg.vector_norm(
        torch.stack([p.grad.norm() for p in module.parameters() if p.grad is not None])
    )
    assert norm.item() == pytest.approx(0.5, rel=1e-4)


def test_validation_bits_per_byte_equal_a_hand_computation():
    """val/bpb = the summed loss in bits over the UTF-8 bytes of the predicted tokens."""
    import math

    import lightning as L
    import torch.nn.functional as F

    from gptlab.data.tokenizer import EOT_ID, encode, gpt2_encoding
    from gptlab.model import GPTConfig

    text = "Bits per byte: naïve café — 日本語 text.<|endoftext|>Another document, short."
    ids = torch.tensor(encode(text) * 3)
    windows = ids[: 2 * 16 + 1]
    batches = [(windows[i : i + 16][None], windows[i + 1 : i + 17][None]) for i in (0, 16)]
    torch.manual_seed(0)
    module = GPTModule(
        GPTConfig(vocab_size=50257, context_length=16, emb_dim=32, n_heads=2, n_layers=1)
    )
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False)  # fmt: skip
    loader = torch.utils.data.DataLoader(batches, batch_size=None)
    trainer.validate(module, dataloaders=loader, verbose=False)
    metrics = module.metrics.latest  # the row the run's one metrics writer wrote

    module.eval()
    nats, n_bytes = 0.0, 0
    with torch.no_grad():
        for inputs, targets in batches:
            logits = module.model(inputs)
            nats += F.cross_entropy(logits[0].float(), targets[0], reduction="sum").item()
            encoding = gpt2_encoding()
            n_bytes += sum(
                0 if t == EOT_ID else len(encoding.decode_single_token_bytes(t))
                for t in targets[0].tolist()
            )
    assert metrics["val/bpb"] == pytest.approx(nats / math.log(2) / n_bytes, rel=1e-5)
    assert metrics["val/loss"] == pytest.approx(nats / 32, rel=1e-5)
