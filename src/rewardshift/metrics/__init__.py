"""Diversity metrics: pure functions of generated samples."""
