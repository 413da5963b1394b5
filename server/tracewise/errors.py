"""One exception tree for the whole service.

Every error the engine raises on purpose is a ``TracewiseError``; each subclass names the
gRPC status it maps to (as a string: the engine never imports gRPC). The serving layer maps
``grpc_code`` to a status in exactly one place; anything that is not a ``TracewiseError``
becomes ``INTERNAL`` with a request id there.

    TracewiseError                      INTERNAL
    ├── InvalidRequest                  INVALID_ARGUMENT
    │   ├── InvalidImage                INVALID_ARGUMENT  (not an image, truncated, too small)
    │   └── InvalidParameter            INVALID_ARGUMENT  (names the field and its range)
    ├── ImageTooLarge                   RESOURCE_EXHAUSTED (pixel or byte limit)
    ├── BudgetExhausted                 DEADLINE_EXCEEDED (no result before the deadline)
    ├── Unavailable                     UNAVAILABLE       (worker pool or model not usable now)
    └── EngineFailure                   INTERNAL          (VTracer, resvg or onnxruntime failed)
"""

from __future__ import annotations

from typing import Any


def _rebuild(cls: type[TracewiseError], state: dict[str, object]) -> TracewiseError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, state["message"])
    exc.__dict__.update(state)
    return exc


def reason_of(cls: type) -> str:
    """A class's error reason for clients: its name in UPPER_SNAKE (InvalidImage -> INVALID_IMAGE)."""
    return "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(cls.__name__)).upper()


class TracewiseError(Exception):
    """Base of every error raised on purpose; ``message`` is safe to show to a client."""

    grpc_code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def reason(self) -> str:
        return reason_of(type(self))

    # by class and fields: errors cross process boundaries (Ray) intact
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _rebuild, (type(self), dict(self.__dict__))


class InvalidRequest(TracewiseError):
    grpc_code = "INVALID_ARGUMENT"


class InvalidImage(InvalidRequest):
    """The bytes are not a raster image we can decode, or the image is unusable."""


class InvalidParameter(InvalidRequest):
    """A parameter or option is outside its documented range."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        super().__init__(f"{field}={value!r} is invalid: expected {allowed}")
        self.field = field
        self.value = value
        self.allowed = allowed


class ImageTooLarge(TracewiseError):
    grpc_code = "RESOURCE_EXHAUSTED"


class BudgetExhausted(TracewiseError):
    grpc_code = "DEADLINE_EXCEEDED"


class Unavailable(TracewiseError):
    grpc_code = "UNAVAILABLE"


class EngineFailure(TracewiseError):
    grpc_code = "INTERNAL"


def all_error_types() -> list[type[TracewiseError]]:
    """Every class in the tree, for the one test that walks it and for the status map."""
    out: list[type[TracewiseError]] = []
    stack: list[type[TracewiseError]] = [TracewiseError]
    while stack:
        cls = stack.pop()
        out.append(cls)
        stack.extend(cls.__subclasses__())
    return out
