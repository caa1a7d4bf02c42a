#!/usr/bin/env bash
# Every GPU figure of the GPU-servers issue in one run, under 5 minutes on one H100/H200.
# Needs: Fashion-MNIST IDX files in $FMNIST (default .fmnist/) and, for the Captum comparison, the
# Captum wheel in .whl/ (both ignored folders; see README "Running on a GPU server").
#
#   OUT=out bash bench/gpu_check.sh   # JSON lines in $OUT/gpu_check.jsonl, the logs' tails in $OUT/logs.txt
#
# Works on a CPU too (small steps, for trying the script itself): BENCH_DEVICE=cpu QUICK=1.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check_out}
WORK=${WORK:-$(mktemp -d /tmp/xai-gpu-check.XXXX)}  # run directories and full logs
FMNIST=${FMNIST:-.fmnist}
DEV=${BENCH_DEVICE:-cuda}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
PY=${PYTHON:-python3}
if ls .whl/*.whl > /dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/xai-site .whl/*.whl \
    && export PYTHONPATH=$PWD:/tmp/xai-site
fi
J="$OUT/gpu_check.jsonl"
: > "$J"
status=0
run() {  # run NAME CMD...: JSON lines to $J, the whole output to $WORK/NAME.log
  local name=$1; shift
  local t0=$SECONDS
  "$@" > "$WORK/$name.log" 2>&1 || { echo "{\"step\": \"$name\", \"failed\": true}" >> "$J"; status=1; }
  grep '^{' "$WORK/$name.log" >> "$J"
  { echo "== $name ($((SECONDS - t0)) s)"; tail -n 40 "$WORK/$name.log"; } >> "$OUT/logs.txt"
  echo "$name: $((SECONDS - t0)) s" >&2
}
: > "$OUT/logs.txt"
if [ -n "${QUICK:-}" ]; then STEPS=20; EPOCHS="train.epochs=1 data.num_train=2048"; XARGS="--batch 32 --steps 8 --repeats 1 --short-repeats 1"; CLIRUNS=1
else STEPS=300; EPOCHS=""; XARGS=""; CLIRUNS=7; fi

$PY -c "import torch, json; d=torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'; \
print(json.dumps({'step': 'device', 'device': d, 'torch': torch.__version__, 'cuda': torch.version.cuda}))" >> "$J"

# 1. training throughput: the reference loop at batch 64 vs ours (mlp_gan at 64, cnn at 64 and 512)
run train_b64 $PY bench/train.py --device "$DEV" --batch 64 --steps $STEPS --models mlp_gan,cnn
run train_b512 $PY bench/train.py --device "$DEV" --batch 512 --ref-batch 64 --steps $STEPS --models cnn,fast_cnn

# 2. Fashion-MNIST to 93% in under 5 s of training (sum of the epochs' seconds, validation included)
for mode in true false; do
  run "fashion_graphs_$mode" $PY -m xaicli train configs/fashion_mnist_fast.yaml data.root="$FMNIST" \
    train.device="$DEV" train.cuda_graphs=$mode $EPOCHS --run-dir "$WORK/fashion_graphs_$mode"
  $PY - "$WORK/fashion_graphs_$mode" "$mode" >> "$J" <<'EOF'
import json, sys
from pathlib import Path
run, mode = Path(sys.argv[1]), sys.argv[2]
rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines() if '"kind": "epoch"' in r]
elapsed, first93 = 0.0, None
for r in rows:
    elapsed += r["seconds"]
    if first93 is None and r["val_acc"] >= 0.93:
        first93 = round(elapsed, 2)
meta = json.loads((run / "meta.json").read_text())
print(json.dumps({"step": "fashion_mnist_fast", "cuda_graphs": mode, "path": meta.get("step"),
                  "device": meta["device_name"], "epochs": len(rows), "val_acc": rows[-1]["val_acc"],
                  "train_seconds": round(elapsed, 2), "seconds_to_93": first93,
                  "epoch_seconds": [r["seconds"] for r in rows]}))
EOF
done

# 3. captured vs eager: same weights, resume across paths
run parity $PY scripts/gpu_parity.py --device "$DEV" --out "$WORK/parity_runs"

# 4. explanations: ours vs Captum (IG, SmoothGrad); CLI latency
run explain $PY bench/explain.py --device "$DEV" $XARGS
run cli $PY bench/cli.py --runs $CLIRUNS
cat "$J"
exit $status
