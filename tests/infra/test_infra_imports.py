"""The CDK app imports only pure definitions from k2 (infra_cdk/README.md), never I/O code."""

from __future__ import annotations

import ast

import pytest

from infra_cdk.repo import REPO_ROOT

pytestmark = pytest.mark.unit

ALLOWED = (
    "k2.lake.tables",
    "k2.domain.",
    "k2.deployment.",
    "k2.monitoring.",
    "k2.query.named_queries",
    "k2.api.gateway_contract",
    "k2.packaging.lambda_entry_points",
)


def _k2_imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((REPO_ROOT / "infra_cdk").rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
                names = names[1:] if node.module == "k2.packaging" else names[:1]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name == "k2" or name.startswith("k2."):
                    found.setdefault(str(path.relative_to(REPO_ROOT)), set()).add(name)
    return found


def test_infra_imports_only_pure_definitions_from_k2() -> None:
    imports = _k2_imports()
    assert imports, "the CDK app reads its config and definitions from k2"
    for module, names in imports.items():
        for name in names:
            assert name.startswith(ALLOWED) or name in {a.rstrip(".") for a in ALLOWED}, (
                module,
                name,
            )
