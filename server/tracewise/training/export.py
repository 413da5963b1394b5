"""Write an ONNX model and its JSON metadata side by side (``name.onnx`` + ``name.json``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def write_model(out_dir: Path, name: str, onx: Any, meta: dict[str, Any]) -> Path:
    """Every model carries a version (UTC timestamp) and whatever the trainer records."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.onnx"
    path.write_bytes(onx.SerializeToString())
    full = {"version": time.strftime("%Y%m%d%H%M%S", time.gmtime()), **meta}
    path.with_suffix(".json").write_text(json.dumps(full, indent=1))
    return path
