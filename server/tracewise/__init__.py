"""Tracewise engine: raster logos to compact, faithful SVG (plain Python, no Ray, no gRPC)."""

from .memory import tune_malloc

tune_malloc()
