"""Synthetic data: the national dataset and uploads of known effect (world), and the demo month."""
