"""Datasets: the DATASETS registry (registry.py), one module per dataset family, and the batch loader."""
