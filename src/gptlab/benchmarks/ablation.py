"""Architecture ablation on one GPU: GPT-2 124M, then one switch at a time, then the presets.

    python -m gptlab.benchmarks.ablation [--steps 200] [--out DIR] [-- <train.py overrides>]

Every variant trains on the same data, the same tokens and the same optimizer; the table gives
tokens/s, peak memory and the validation loss after those tokens (one JSON line per variant).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from gptlab.benchmarks.runs import run

VARIANTS: list[tuple[str, list[str]]] = [
    ("gpt2_124m", []),
    ("+rope", ["model.pos_emb=rope"]),
    ("+rmsnorm", ["model.norm=rmsnorm"]),
    ("+no_bias", ["model.bias=false"]),
    ("+relu2", ["model.mlp=relu2"]),
    ("+swiglu", ["model.mlp=swiglu"]),
    ("+qk_norm", ["model.qk_norm=true"]),
    ("+gqa_4kv", ["model.n_kv_heads=4"]),
    ("+untied", ["model.tie_weights=false"]),
    ("+softcap_15", ["model.logit_softcap=15"]),
    ("+zero_init_proj", ["model.zero_init_proj=true"]),
    ("llama_124m", ["model=llama_124m"]),
    ("modern_124m", ["model=modern_124m"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--only", default="", help="comma-separated variant names")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("overrides", nargs="*", help="train.py overrides for every variant")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="gptlab-ablation-"))
    chosen = [v for v in VARIANTS if not args.only or v[0] in args.only.split(",")]
    base = ["model.drop_rate=0.0", f"trainer.max_steps={args.steps}"]
    base += [f"trainer.val_check_interval={args.steps}", *args.overrides]
    for name, switches in chosen:
        preset = [s for s in switches if s.startswith("model=")] or ["model=gpt2_124m"]
        overrides = [*preset, *base, *(s for s in switches if not s.startswith("model="))]
        try:
            result = run(overrides, out / name.strip("+"))
        except Exception as err:  # one failing variant must not lose the others
            result = {"error": f"{type(err).__name__}: {err}"[:300]}
        print(json.dumps({"name": name, **result}), flush=True)


if __name__ == "__main__":
    main()
