"""Render the kustomize subset ``k8s/`` uses, offline, so tests need no kubectl.

Supported: ``resources`` (files and directories), ``namespace``, ``labels`` (metadata only),
``configMapGenerator`` with ``files`` (no name hash), inline JSON 6902 ``patches`` with a
``target``, and strategic-merge patches from a ``path`` that only set mapping fields (merged
into the object of the same kind and name; lists are not merged, so none may appear). When
kubectl is installed a test renders the overlays with it too and compares.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
SUPPORTED = {"apiVersion", "kind", "namespace", "labels", "resources", "configMapGenerator", "patches"}


def render(directory: Path) -> list[dict[str, Any]]:
    k = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(k) - SUPPORTED
    if unknown:
        raise ValueError(f"{directory}: kustomize fields this renderer does not support: {unknown}")
    docs: list[dict[str, Any]] = []
    for res in k.get("resources", []):
        path = directory / res
        if path.is_dir():
            docs.extend(render(path))
        else:
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    for gen in k.get("configMapGenerator", []):
        if not gen.get("options", {}).get("disableNameSuffixHash"):
            raise ValueError("name-hashed generators are not supported")
        data = {Path(f).name: (directory / f).read_text() for f in gen["files"]}
        docs.append(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data}
        )
    for entry in k.get("labels", []):
        for d in docs:
            d.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
    for patch in k.get("patches", []):
        if "path" in patch:
            _merge_patch(docs, yaml.safe_load((directory / patch["path"]).read_text()))
            continue
        targets = [d for d in docs if _matches(d, patch["target"])]
        if not targets:
            raise ValueError(f"patch target matches nothing: {patch['target']}")
        for d in targets:
            for op in yaml.safe_load(patch["patch"]):
                _apply(d, op)
    if "namespace" in k:
        for d in docs:
            if d["kind"] not in CLUSTER_SCOPED:
                d["metadata"]["namespace"] = k["namespace"]
            if d["kind"] in ("RoleBinding", "ClusterRoleBinding"):
                for s in d.get("subjects", []):
                    if s.get("kind") == "ServiceAccount":
                        s["namespace"] = k["namespace"]
    return docs


def _merge_patch(docs: list[dict[str, Any]], patch: dict[str, Any]) -> None:
    key = (patch["kind"], patch["metadata"]["name"])
    (doc,) = [d for d in docs if (d["kind"], d["metadata"]["name"]) == key]

    def merge(into: dict[str, Any], change: dict[str, Any], where: str) -> None:
        for name, value in change.items():
            if isinstance(value, list):
                raise ValueError(f"{where}.{name}: list merges are not supported")
            if isinstance(value, dict) and isinstance(into.get(name), dict):
                merge(into[name], value, f"{where}.{name}")
            else:
                into[name] = copy.deepcopy(value)

    merge(doc, {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}, key[0])


def _matches(doc: dict[str, Any], target: dict[str, str]) -> bool:
    group, _, version = doc["apiVersion"].rpartition("/")
    want = {"group": group, "version": version, "kind": doc["kind"], "name": doc["metadata"]["name"]}
    return all(want[key] == value for key, value in target.items())


def _apply(doc: dict[str, Any], op: dict[str, Any]) -> None:
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
    node: Any = doc
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    key: Any = int(last) if isinstance(node, list) and last != "-" else last
    if op["op"] == "replace":
        if isinstance(node, dict) and key not in node:
            raise KeyError(f"replace of a missing path {op['path']}")
        node[key] = copy.deepcopy(op["value"])
    elif op["op"] == "add":
        if isinstance(node, list):
            node.insert(len(node) if key == "-" else key, copy.deepcopy(op["value"]))
        else:
            node[key] = copy.deepcopy(op["value"])
    elif op["op"] == "remove":
        del node[key]
    else:
        raise ValueError(f"unsupported op {op['op']}")
