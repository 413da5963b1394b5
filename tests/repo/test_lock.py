"""requirements.lock (``make lock``) pins every direct dependency at a version pyproject allows."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def test_lock_pins_every_direct_dependency_within_its_range():
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[canonicalize_name(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    client = tomllib.loads((ROOT / "clients/python/pyproject.toml").read_text())["project"]
    direct = project["dependencies"] + project["optional-dependencies"]["test"] + client["dependencies"]
    for spec in map(Requirement, direct):
        if spec.marker is not None and not spec.marker.evaluate():
            continue
        name = canonicalize_name(spec.name)
        assert name in pins, f"{spec.name} is not in requirements.lock (run make lock)"
        assert spec.specifier.contains(pins[name], prereleases=True), f"{spec} vs locked {pins[name]}"
