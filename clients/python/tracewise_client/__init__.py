"""Python client SDK for Tracewise (``tracewise.v1.VectorizeService``)."""

from .client import AsyncClient, Client, Progress, Result, TracewiseError, rich_details

__all__ = ["AsyncClient", "Client", "Progress", "Result", "TracewiseError", "rich_details"]
