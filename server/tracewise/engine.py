"""The engine's front door: bytes (or a decoded picture) and options in, a ``Result`` out.

Plain Python: no Ray, no gRPC. The CLI, the benchmark and the serving layer all call this.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .decode import DEFAULT_MAX_PIXELS, Picture, decode
from .errors import InvalidParameter
from .methods import DEFAULT_BUDGET_S, METHODS, Result, mapping, regional, search
from .methods import default as default_method
from .objective import Job, Objective

CHOICES = (*METHODS, "auto")

_RUN = {
    "default": default_method.run,
    "mapping": mapping.run,
    "search": search.run,
    "regional": regional.run,
}


def check_method(method: str) -> str:
    if method not in CHOICES:
        raise InvalidParameter("method", method, f"one of {', '.join(CHOICES)}")
    return method


def resolve(method: str) -> str:
    """``auto`` picks a method; until the router exists it means ``mapping``."""
    return "mapping" if check_method(method) == "auto" else method


def vectorize(
    image: bytes | Picture,
    method: str = "auto",
    objective: Objective | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Callable[[str, float, float], None] | None = None,
    cancel: threading.Event | None = None,
) -> Result:
    objective = objective or Objective()
    name = resolve(method)
    picture = image if isinstance(image, Picture) else decode(image, max_pixels)
    budget = objective.budget_s if objective.budget_s is not None else DEFAULT_BUDGET_S[name]
    job = Job(picture, objective, budget, progress, cancel)
    return _RUN[name](job)
