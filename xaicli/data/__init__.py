"""Datasets (DATASETS registry) and the device-resident batch loader."""
