"""Copy deployments/serve_config.yaml into the RayService's serveConfigV2 (``make k8s``).

A text edit, so the manifest keeps its comments: the block under ``serveConfigV2: |`` is
replaced by the serve config indented to fit.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVE_CONFIG = ROOT / "deployments" / "serve_config.yaml"
RAYSERVICE = ROOT / "k8s" / "base" / "rayservice.yaml"
KEY = "  serveConfigV2: |"


def render(manifest: str, serve_config: str) -> str:
    lines = manifest.splitlines()
    start = lines.index(KEY) + 1
    end = start
    while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
        end += 1
    block = ["    " + ln if ln.strip() else "" for ln in serve_config.rstrip("\n").splitlines()]
    return "\n".join(lines[:start] + block + lines[end:]) + "\n"


def main() -> int:
    new = render(RAYSERVICE.read_text(), SERVE_CONFIG.read_text())
    if "--check" in sys.argv:
        return 0 if new == RAYSERVICE.read_text() else 1
    RAYSERVICE.write_text(new)
    print(f"wrote {RAYSERVICE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
