#!/usr/bin/env bash
# The loop a new user should see first, offline on CPU: train the default digit classifier on the
# embedded MNIST subset (or full MNIST if its IDX files are under ./data), then evaluate it.
set -euo pipefail
runs="${RUNS_DIR:-runs}"

echo "== 1/2 train the digit classifier (configs/mnist_cnn.yaml) ==" >&2
clf=$(xai train configs/mnist_cnn.yaml "train.runs_dir=$runs" | tail -n 1)

echo "== 2/2 evaluate it ==" >&2
xai eval "$clf"

echo
echo "classifier run: $clf"
echo "  metrics:   $clf/eval/metrics.json"
echo "  plots:     $clf/plots/"
