"""The layers' boundaries: the engine imports neither Ray nor the SDK nor the service; the data
plane and its modules import no Ray (only the ingress, the worker and local start do)."""

from __future__ import annotations

import subprocess
import sys

ENGINE = ["tracewise", "tracewise.engine", "tracewise.store", "tracewise.store_server",
          "tracewise.backup", "tracewise.report", "tracewise.router", "tracewise.benchmark",
          "tracewise.training.router"]  # fmt: skip
DATA_PLANE = ["tracewise_serve.dataplane", "tracewise_serve.admission", "tracewise_serve.budget",
              "tracewise_serve.recording", "tracewise_serve.served", "tracewise_serve.status",
              "tracewise_serve.convert", "tracewise_serve.auth", "tracewise_serve.health"]  # fmt: skip


def _imported(modules: list[str]) -> set[str]:
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return {name.split(".")[0] for name in out.stdout.split()}


def test_the_engine_imports_neither_ray_nor_the_sdk_nor_the_service():
    loaded = _imported(ENGINE)
    assert not loaded & {"ray", "tracewise_client", "tracewise_serve", "grpc", "tracewise_cli"}, loaded


def test_the_data_plane_imports_no_ray():
    assert "ray" not in _imported(DATA_PLANE)
