# shared by the GPU scripts: run NAME TIMEOUT OVERRIDES... and its one-line JSON summary
common=(data=tokens data.path=$data/shards_all_cores model.drop_rate=0.0 trainer.enable_progress_bar=false
        trainer.log_every_n_steps=10 callbacks.model_checkpoint=null callbacks.last_checkpoint=null sample.max_new_tokens=0)

summary() {  # name, run dir: median tokens/s (windows 3+), last train/loss, last val/loss, peak memory
  python - "$1" "$2" <<'PY'
import csv, json, statistics, sys
rows = list(csv.DictReader(open(sys.argv[2] + "/csv/metrics.csv")))
col = lambda k: [float(r[k]) for r in rows if r.get(k)]
tps = col("perf/tokens_per_s")
print(json.dumps({"name": sys.argv[1], "tokens_per_s": round(statistics.median(tps[2:]) if len(tps) > 2 else float("nan")),
  "train_loss_last": col("train/loss")[-1], "val_loss": (col("val/loss") or [None])[-1],
  "tokens_seen": col("train/tokens")[-1], "peak_memory_gib": round(max(col("perf/peak_memory_gib") or [0]), 2),
  "mfu": round(statistics.median(col("perf/mfu")[2:]), 4) if len(col("perf/mfu")) > 2 else None}))
PY
}

run() {  # name, timeout, overrides...
  local name=$1 limit=$2; shift 2
  timeout "$limit" python train.py "${common[@]}" "hydra.run.dir=$out/$name" "$@" > "$out/$name.log" 2>&1
  echo "exit $? $name" >> "$out/exits.txt"
  summary "$name" "$out/$name" | tee -a "$out/summary.jsonl"
}

