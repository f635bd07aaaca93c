"""Numerics of the optional fast paths: validation loss after equal tokens, against the default.

    python -m gptlab.benchmarks.numerics [--steps 200] [--only a,b] [-- <train.py overrides>]

Every variant trains the same model on the same data for the same tokens with torch.compile; the
default path is also trained with a second seed, which gives the spread that a difference has to be
read against. One JSON line per run (validation loss, tokens/s, peak memory), then each variant's
relative difference to the default. The issue's bar for turning a fast path on by default: within
0.5% of the default's validation loss.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from gptlab.benchmarks.runs import run

BASELINE = "default"
# the reference loss: F.cross_entropy in the compiled graph (kernels.loss=auto picks Liger's
# kernel on GPUs where it is installed); every variant but liger_loss keeps it
COMPILED_LOSS = "kernels.loss=compiled"
VARIANTS: list[tuple[str, list[str]]] = [
    (BASELINE, [COMPILED_LOSS]),
    ("default_seed2", ["seed=2", COMPILED_LOSS]),  # the spread between two seeds of the same path
    ("liger_loss", ["kernels.loss=liger"]),  # needs liger-kernel and a CUDA GPU
    ("cudnn_attention", ["kernels.attention=cudnn", COMPILED_LOSS]),
    ("fa4_attention", ["kernels.attention=fa4", COMPILED_LOSS]),  # flash-attn-4, H100/H200/B200
    ("float8_tensorwise", ["kernels.float8=tensorwise", COMPILED_LOSS]),  # torchao, an FP8 GPU
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--only", default="", help="comma-separated variant names (and default)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("overrides", nargs="*", help="train.py overrides for every variant")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="gptlab-numerics-"))
    chosen = [v for v in VARIANTS if not args.only or v[0] in {BASELINE, *args.only.split(",")}]
    base = ["model=gpt2_124m", "model.drop_rate=0.0", "kernels.compile=true"]
    base += [f"trainer.max_steps={args.steps}", f"trainer.val_check_interval={args.steps}"]
    losses: dict[str, float] = {}
    for name, switches in chosen:
        try:
            result = run([*base, *args.overrides, *switches], out / name)
        except Exception as err:  # one failing variant must not lose the others
            result = {"error": f"{type(err).__name__}: {err}"[:300]}
        if result.get("val_loss") is not None:
            losses[name] = result["val_loss"]
        print(json.dumps({"name": name, **result}), flush=True)
    reference = losses.get(BASELINE)
    for name, loss in losses.items():
        if reference and name != BASELINE:
            difference = (loss - reference) / reference
            print(json.dumps({"name": f"vs_{BASELINE}_{name}", "relative": round(difference, 5)}))


if __name__ == "__main__":
    main()
