# Sourced by the speedrun scripts: the offline corpus (data=pycode, DATA_TOKENS, default 41M
# GPT-2 tokens of the machine's Python sources) under $data, prepared once per cut: each
# DATA_TOKENS has its own folder, so a machine kept between jobs never trains on another cut.
tokens=${DATA_TOKENS:-41000000}
data=${DATA_DIR:-$PWD/data/tokens_$tokens}
if [ ! -f "$data/pycode/manifest.json" ]; then
  python -m gptlab prepare data=pycode paths.data_dir="$data" \
    data.source.max_tokens=$tokens hydra.run.dir=/tmp/gptlab-prepare > "$out/prepare.log" 2>&1
  echo "prepare exit $?" >> "$out/exits.txt"
fi
