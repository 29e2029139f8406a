"""Dependencies point inward (style.md): walk every module's imports and fail when a
layer reaches outward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"domain", "commands", "projections", "read_api", "infra"}
DRIVERS = {"psycopg", "psycopg_pool", "confluent_kafka", "redis", "sqlite3", "fastapi",
           "starlette", "uvicorn", "jwt"}
# What each layer may import, besides the standard library.
ALLOWED = {
    "domain": {"domain", "eventsourcing.domain", "dateutil"},
    "projections": {"domain", "projections"},
    "read_api": {"domain.freebusy", "domain.recurrence", "domain.values",
                 "projections.event_state", "projections.spans", "projections.masks",
                 "read_api", "fastapi", "pydantic", "icalendar"},
    "commands": {"domain", "commands", "projections.event_state", "read_api.queries",
                 "read_api.rendering", "eventsourcing", "fastapi", "pydantic", "icalendar",
                 "starlette.concurrency"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def third_party_or_project(name: str) -> bool:
    top = name.split(".")[0]
    return top in PROJECT or top in DRIVERS or top in {"eventsourcing", "dateutil",
                                                       "pydantic", "pydantic_settings"}


def allowed(name: str, rules: set[str]) -> bool:
    return any(name == rule or name.startswith(rule + ".") for rule in rules)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_point_inward(layer: str) -> None:
    offending = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / layer).rglob("*.py"))
        for name in sorted(imports_of(path))
        if third_party_or_project(name) and not allowed(name, ALLOWED[layer])
    ]
    assert offending == []


def test_read_api_never_touches_aggregates_or_the_event_store() -> None:
    forbidden = {"domain.calendar_event", "domain.invitation", "domain.user", "eventsourcing"}
    offending = [
        f"{path.name}: {name}" for path in (ROOT / "read_api").rglob("*.py")
        for name in imports_of(path) if allowed(name, forbidden)
    ]
    assert offending == []
