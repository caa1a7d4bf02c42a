#!/usr/bin/env bash
# The loop a new user should see first, offline on CPU, on the embedded MNIST subset (or full MNIST
# if its IDX files are under ./data): a digit classifier, the MLP GAN, samples, evaluation of both
# (the GAN judged by the classifier) and explanations of both, with reports to open in a browser.
set -euo pipefail
runs="${RUNS_DIR:-runs}"

echo "== 1/6 train the digit classifier (configs/mnist_cnn.yaml) ==" >&2
clf=$(xai train configs/mnist_cnn.yaml "train.runs_dir=$runs" | tail -n 1)
xai eval "$clf"

echo "== 2/6 train the MLP GAN (configs/mnist_gan.yaml) ==" >&2
gan=$(xai train configs/mnist_gan.yaml "train.runs_dir=$runs" "eval.classifier=$clf" | tail -n 1)

echo "== 3/6 sample from it ==" >&2
samples=$(xai sample "$gan" -n 64 --seed 0 | tail -n 1)

echo "== 4/6 evaluate it with the classifier's features (FID, KID, precision/recall, coverage) ==" >&2
xai eval "$gan" --classifier "$clf"

echo "== 5/6 explain the classifier (saliency maps, faithfulness, sanity) ==" >&2
clf_explain=$(xai explain "$clf" | tail -n 1)

echo "== 6/6 explain the GAN: its discriminator, and generated digits through the classifier ==" >&2
gan_explain=$(xai explain "$gan" --classifier "$clf" | tail -n 1)

echo
echo "classifier run: $clf   (eval/metrics.json, plots/)"
echo "GAN run:        $gan   (samples/epoch_*.png, eval/metrics.json)"
echo "samples:        $samples"
echo "explanations:   $clf_explain/report.html"
echo "                $gan_explain/report.html"
