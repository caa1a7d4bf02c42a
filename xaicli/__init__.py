"""xai: train, evaluate, sample and explain PyTorch image models from one command line."""

__version__ = "0.1.0"
