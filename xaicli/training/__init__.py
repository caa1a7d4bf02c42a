"""Training: the loop, its state and checkpoint policy, signals, devices, CUDA graphs, DDP, progress."""
