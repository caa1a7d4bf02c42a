#!/usr/bin/env bash
# The loop a new user should see first, offline on CPU, on the embedded MNIST subset (or full MNIST
# if its IDX files are under ./data): a digit classifier, the MLP GAN, samples, evaluation of both
# (the GAN judged by the classifier) and explanations of both.
set -euo pipefail
runs="${RUNS_DIR:-runs}"

echo "== 1/5 train the digit classifier (configs/mnist_cnn.yaml) ==" >&2
clf=$(xai train configs/mnist_cnn.yaml "train.runs_dir=$runs" | tail -n 1)
xai eval "$clf"

echo "== 2/5 train the MLP GAN (configs/mnist_gan.yaml) ==" >&2
gan=$(xai train configs/mnist_gan.yaml "train.runs_dir=$runs" "eval.classifier=$clf" | tail -n 1)

echo "== 3/5 sample from it ==" >&2
samples=$(xai sample "$gan" -n 64 --seed 0 | tail -n 1)

echo "== 4/5 evaluate it with the classifier's features (FID, KID, precision/recall, coverage) ==" >&2
xai eval "$gan" --classifier "$clf"

echo
echo "classifier run: $clf   (eval/metrics.json, plots/)"
echo "GAN run:        $gan   (samples/epoch_*.png, eval/metrics.json)"
echo "samples:        $samples"
