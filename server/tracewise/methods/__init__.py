"""The optimisation methods, cheapest first: default, mapping, search, regional."""

from .base import DEFAULT_BUDGET_S, METHODS, WORK_BOUNDED, Result

__all__ = ["DEFAULT_BUDGET_S", "METHODS", "WORK_BOUNDED", "Result"]
