"""The log-shipper sidecar's configuration (k8s/base/log-shipper.yaml), read the way the
Collector's filelog receiver applies it, so tests can hold it against real Ray log files.

Only what the config uses: ``include`` globs, the json_parser's ``if`` on the body, its timestamp
(Go layout ``2006-01-02T15:04:05.000Z07:00``) and the trace_parser's source fields.
"""

from __future__ import annotations

import fnmatch
import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

FILE = Path(__file__).resolve().parents[2] / "k8s" / "base" / "log-shipper.yaml"
RAY_LOGS = "/tmp/ray/session_latest/logs"  # where Ray's logs are in the pod (the shared volume)
GO_LAYOUT = "2006-01-02T15:04:05.000Z07:00"


@cache
def config() -> dict[str, Any]:
    doc = yaml.safe_load(FILE.read_text())
    return yaml.safe_load(doc["data"]["config.yaml"])


def receivers() -> dict[str, dict[str, Any]]:
    return {k: v for k, v in config()["receivers"].items() if k.startswith("filelog")}


def receiver_for(relative: str) -> str | None:
    """The filelog receiver that tails the file at ``relative`` (to Ray's logs folder), if any."""
    for name, rx in receivers().items():
        if any(fnmatch.fnmatchcase(f"{RAY_LOGS}/{relative}", glob) for glob in rx["include"]):
            return name
    return None


def _operator(rx: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((op for op in rx.get("operators", []) if op["type"] == kind), None)


def parse(receiver: str, line: str) -> dict[str, Any]:
    """What the receiver makes of one line: ``attributes``, ``timestamp``, ``trace_id``, ``span_id``."""
    rx = receivers()[receiver]
    out: dict[str, Any] = {"body": line, "attributes": {}, "timestamp": None}
    out |= {"trace_id": None, "span_id": None}
    parser = _operator(rx, "json_parser")
    if parser is None or not re.match(r"^\{", line):  # its `if: 'body matches "^\\{"'`
        return out
    assert parser["if"] == r'body matches "^\\{"' and parser["timestamp"]["layout"] == GO_LAYOUT
    out["attributes"] = json.loads(line)
    stamp = out["attributes"][parser["timestamp"]["parse_from"].removeprefix("attributes.")]
    # the Go layout: milliseconds, then Z or a numeric offset with a colon
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)", stamp), stamp
    out["timestamp"] = datetime.fromisoformat(stamp)
    tp = _operator(rx, "trace_parser")
    if tp is not None:
        attrs = out["attributes"]
        out["trace_id"] = attrs.get(tp["trace_id"]["parse_from"].removeprefix("attributes."))
        out["span_id"] = attrs.get(tp["span_id"]["parse_from"].removeprefix("attributes."))
    return out
