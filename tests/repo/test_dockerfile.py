"""The Dockerfile (no Docker engine here): base image = pinned Ray, non-root, health check, and the
same install steps as the Makefile. hadolint lints it in ``make lint``."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_base_image_is_the_pinned_ray_version():
    pin = re.search(r'"ray\[serve\]==([\d.]+)\.\*"', (ROOT / "pyproject.toml").read_text()).group(1)
    version = re.search(r"^ARG RAY_VERSION=([\d.]+)$", DOCKERFILE, re.M).group(1)
    assert version.startswith(pin + "."), (version, pin)
    stages = re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)
    assert len(stages) == 2 and all(s.startswith("rayproject/ray:${RAY_VERSION}") for s in stages)
    rayservice = (ROOT / "k8s" / "base" / "rayservice.yaml").read_text()
    assert f'rayVersion: "{version}"' in rayservice


def test_runs_as_non_root_with_a_grpc_health_check():
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r'^HEALTHCHECK .*\n?.*"tracewise", "health"', DOCKERFILE, re.M)


def test_build_steps_match_the_local_install():
    makefile = (ROOT / "Makefile").read_text()
    assert "scripts/gen_protos.py" in DOCKERFILE and "scripts/gen_protos.py" in makefile
    assert "./clients/python ." in DOCKERFILE and "-e clients/python -e '.[test]'" in makefile
    tools = re.search(r'"grpcio-tools==([\d.]+)"', DOCKERFILE).group(1)
    from importlib.metadata import version

    assert tools.rsplit(".", 1)[0] == version("grpcio-tools").rsplit(".", 1)[0]


@pytest.mark.skipif(
    shutil.which("hadolint") is None and not (ROOT / ".venv/bin/hadolint").exists(), reason="no hadolint"
)
def test_hadolint_is_clean():
    exe = shutil.which("hadolint") or str(ROOT / ".venv/bin/hadolint")
    out = subprocess.run([exe, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
