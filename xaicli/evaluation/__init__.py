"""Evaluation: classifier metrics, GAN metrics, and the function behind `xai eval`."""
