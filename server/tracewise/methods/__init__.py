"""The optimisation methods, cheapest first: default, mapping, search, regional."""

from .base import CHEAPER, DEFAULT_BUDGET_S, METHODS, WORK_BOUNDED, Result

__all__ = ["CHEAPER", "DEFAULT_BUDGET_S", "METHODS", "WORK_BOUNDED", "Result"]
