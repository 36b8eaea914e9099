"""The shape docs/architecture.md promises, checked: knowing one service means knowing all four.

Four rules, each a function over a source tree so that the tests below can also run it
on a deliberately broken copy and see it fail (a check that cannot fail is a defect):

* a ``services/<name>/domain`` module imports no I/O, directly or through the project
  modules it imports (the domain is pure rules; the store, the broker, HTTP and the
  network live outside it);
* every service has the same named parts (:data:`REQUIRED`, what all four have);
* every ``services/<name>/`` service is in the one list of services
  (``shared.settings.SERVICES``) and every listed service exists;
* a route module (one that declares a ``Blueprint``) reaches the store only through the
  service layer: no ``<x>.db``, no collection method, no pymongo (a ratchet over the modules
  that still do, :data:`ROUTES_STILL_TOUCHING_THE_STORE`).
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

from services.console.bootstrap import WATCHED
from services.platform import SERVICE_NAMES
from shared.settings import CONSOLE, DEFAULT_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[2]

IO_MODULES = frozenset(
    {
        *("pymongo", "bson", "gridfs", "kafka", "flask", "flask_smorest", "werkzeug", "gunicorn"),
        *("requests", "httpx", "urllib3", "urllib.request", "http.client", "http.server"),
        *("socket", "socketserver", "ssl", "smtplib", "subprocess", "sqlite3", "prometheus_client"),
    }
)
"""Modules that do I/O (or exist to serve it): a domain module reaches none of them."""

REQUIRED = (
    "__init__.py",
    "bootstrap.py",
    "config.py",
    "policies.py",
    "api.py",
    "schemas.py",
    "handlers.py",
    "repository.py",
    "wsgi.py",
    "worker.py",
    "domain/__init__.py",
)
"""The named parts of a service (docs/adding-a-service.md): what referral, assessment,
scheduling and notification all have."""

REQUIRED_BESIDE = ("docs/services/{name}.md", "tests/unit/{name}", "tests/integration/{name}")

NOT_SERVICES = frozenset({CONSOLE})
"""Packages under services/ that are not platform services: the console watches them."""


# -- the checks ----------------------------------------------------------------------------
def service_packages(root: Path) -> list[str]:
    """Directories under services/ built by a ``bootstrap.py``: the services (and the console)."""
    return sorted(p.parent.name for p in (root / "services").glob("*/bootstrap.py"))


def imports_of(path: Path) -> Iterator[str]:
    """Every module ``path`` imports (``from a.b import c`` yields ``a.b`` and ``a.b.c``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def module_file(root: Path, module: str) -> Path | None:
    """The project file of ``module`` (services.* or shared.*), else None."""
    if module.split(".", maxsplit=1)[0] not in ("services", "shared"):
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def io_reached(root: Path, start: Path) -> list[str]:
    """The I/O modules ``start`` imports, directly or through project modules, as import chains."""
    found: list[str] = []
    seen: set[Path] = set()
    stack: list[tuple[Path, str]] = [(start, str(start.relative_to(root)))]
    while stack:
        path, chain = stack.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in imports_of(path):
            found += [f"{chain} -> {io}" for io in IO_MODULES if module == io or module.startswith(io + ".")]
            target = module_file(root, module)
            if target is not None and target not in seen:
                stack.append((target, f"{chain} -> {module}"))
    return sorted(set(found))


def domain_violations(root: Path) -> list[str]:
    return [
        violation
        for name in service_packages(root)
        for path in sorted((root / "services" / name / "domain").rglob("*.py"))
        for violation in io_reached(root, path)
    ]


def missing_parts(root: Path, names: Iterable[str]) -> list[str]:
    missing = [f"services/{name}/{part}" for name in names for part in REQUIRED]
    missing += [beside.format(name=name) for name in names for beside in REQUIRED_BESIDE]
    return sorted(path for path in missing if not (root / path).exists())


def unlisted(root: Path, services: Mapping[str, int]) -> list[str]:
    packages = set(service_packages(root)) - NOT_SERVICES
    return [f"services/{n}/ is not in shared.settings.SERVICES" for n in sorted(packages - set(services))] + [
        f"SERVICES lists {n!r} but services/{n}/bootstrap.py does not exist"
        for n in sorted(set(services) - packages)
    ]


# -- the checks on this tree ---------------------------------------------------------------
def test_domain_modules_import_no_io():
    assert list((ROOT / "services").glob("*/domain/*.py")), "no domain modules found: the check reads nothing"
    assert domain_violations(ROOT) == []


def test_every_service_has_the_same_named_parts():
    assert len(SERVICES) >= 4
    assert missing_parts(ROOT, SERVICES) == []


def test_every_service_is_in_the_one_list():
    assert unlisted(ROOT, SERVICES) == []


def test_the_platform_the_console_and_the_ports_read_the_one_list():
    assert tuple(SERVICE_NAMES) == tuple(SERVICES) == tuple(WATCHED)
    assert {n: DEFAULT_PORTS[n] for n in SERVICES} == dict(SERVICES)
    assert set(DEFAULT_PORTS) == {*SERVICES, CONSOLE}


# -- each check fails on a deliberately broken copy ------------------------------------------
@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the sources the checks read (services/, shared/, docs/services, the test folders)."""
    ignore = shutil.ignore_patterns("__pycache__", "static", "templates", "*.json", "*.html")
    shutil.copytree(ROOT / "services", tmp_path / "services", ignore=ignore)
    shutil.copytree(ROOT / "shared", tmp_path / "shared", ignore=ignore)
    shutil.copytree(ROOT / "docs" / "services", tmp_path / "docs" / "services")
    for name in SERVICES:
        for tier in ("unit", "integration"):
            (tmp_path / "tests" / tier / name).mkdir(parents=True)
    assert domain_violations(tmp_path) == [] and missing_parts(tmp_path, SERVICES) == []
    assert unlisted(tmp_path, SERVICES) == []
    return tmp_path


def test_a_domain_module_importing_the_store_fails(tree):
    rules = tree / "services" / "referral" / "domain" / "status.py"
    rules.write_text(rules.read_text() + "\nfrom pymongo import MongoClient\n")
    assert domain_violations(tree) == ["services/referral/domain/status.py -> pymongo"]


def test_a_domain_module_reaching_io_through_a_project_module_fails(tree):
    rules = tree / "services" / "scheduling" / "domain" / "costs.py"
    rules.write_text(rules.read_text() + "\nimport shared.kafka\n")
    assert any(
        v.startswith("services/scheduling/domain/costs.py -> shared.kafka -> kafka")
        for v in domain_violations(tree)
    )


@pytest.mark.parametrize("module", ["requests", "socket", "flask", "http.client", "subprocess"])
def test_each_io_module_is_caught(tree, module):
    (tree / "services" / "assessment" / "domain" / "probe.py").write_text(f"import {module}\n")
    assert domain_violations(tree) == [f"services/assessment/domain/probe.py -> {module}"]


@pytest.mark.parametrize("part", REQUIRED)
def test_a_service_without_a_required_part_fails(tree, part):
    path = tree / "services" / "notification" / part
    if part.endswith("__init__.py") and part != "__init__.py":
        shutil.rmtree(path.parent)
    else:
        path.unlink()
    assert f"services/notification/{part}" in missing_parts(tree, SERVICES)


def test_a_service_without_its_docs_or_tests_fails(tree):
    (tree / "docs" / "services" / "scheduling.md").unlink()
    (tree / "tests" / "integration" / "assessment").rmdir()
    assert missing_parts(tree, SERVICES) == ["docs/services/scheduling.md", "tests/integration/assessment"]


def test_a_service_missing_from_the_list_fails(tree):
    shutil.copytree(tree / "services" / "referral", tree / "services" / "triage")
    assert unlisted(tree, SERVICES) == ["services/triage/ is not in shared.settings.SERVICES"]


def test_a_listed_service_that_does_not_exist_fails(tree):
    assert unlisted(tree, {**SERVICES, "billing": 8005}) == [
        "SERVICES lists 'billing' but services/billing/bootstrap.py does not exist"
    ]


# -- routes reach the store only through the service layer -----------------------------------
STORE_METHODS = frozenset(
    {
        *("find_one", "insert_one", "insert_many", "update_one", "update_many", "replace_one"),
        *("delete_one", "delete_many", "count_documents", "aggregate", "bulk_write", "distinct"),
        *("find_one_and_update", "find_one_and_replace", "find_one_and_delete", "create_index"),
    }
)


def route_modules(root: Path) -> list[Path]:
    """The modules that declare HTTP routes (a flask-smorest or flask ``Blueprint``)."""
    found = []
    for path in sorted((root / "services").rglob("*.py")):
        if "domain" in path.relative_to(root).parts:
            continue
        if any(m in ("flask_smorest.Blueprint", "flask.Blueprint") for m in imports_of(path)):
            found.append(path)
    return found


def store_touches(path: Path) -> list[str]:
    """Where ``path`` reaches the store itself: ``<x>.db``, a collection method, pymongo."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    touches = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (node.attr == "db" or node.attr in STORE_METHODS):
            touches.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            touches += [
                f"line {node.lineno}: import {n}" for n in names if n.split(".")[0] in ("pymongo", "bson")
            ]
    return touches


def routes_touching_the_store(root: Path) -> dict[str, list[str]]:
    return {
        str(path.relative_to(root)): touches
        for path in route_modules(root)
        if (touches := store_touches(path))
    }


ROUTES_STILL_TOUCHING_THE_STORE = frozenset(
    {
        "services/referral/admin.py",
        "services/referral/api.py",
        "services/referral/clinical.py",
        "services/referral/webhooks.py",
        "services/scheduling/routes/appointments.py",
        "services/scheduling/routes/hospitals.py",
        "services/scheduling/routes/offers.py",
        "services/scheduling/routes/waitlist.py",
    }
)
"""Route modules that still reach the store directly (issue 13 item 2 moves them behind the
services' repositories and use cases). A ratchet: a module not listed here fails at once, and
a listed module that no longer touches the store fails until it is removed from the list."""


def test_routes_reach_the_store_only_through_the_service_layer():
    assert route_modules(ROOT), "no route modules found: the check reads nothing"
    touching = routes_touching_the_store(ROOT)
    new = {path: t for path, t in touching.items() if path not in ROUTES_STILL_TOUCHING_THE_STORE}
    assert new == {}, "routes must call the service layer, not the store"
    fixed = ROUTES_STILL_TOUCHING_THE_STORE - set(touching)
    assert not fixed, f"no longer touching the store: remove {sorted(fixed)} from the list"


def test_a_route_reading_the_store_fails(tree):
    api = tree / "services" / "notification" / "api.py"
    assert "services/notification/api.py" not in routes_touching_the_store(tree)
    api.write_text(api.read_text() + "\n\ndef _peek(deps):\n    return deps.db.deliveries.find_one({})\n")
    touches = routes_touching_the_store(tree)["services/notification/api.py"]
    assert any(t.endswith(".find_one") for t in touches) and any(t.endswith(".db") for t in touches)


@pytest.mark.parametrize("line", ["from pymongo import ASCENDING", "x = repo.collection.update_one({}, {})"])
def test_a_route_importing_or_writing_the_store_fails(tree, line):
    (tree / "services" / "assessment" / "probe_routes.py").write_text(
        f"from flask_smorest import Blueprint\n{line}\n"
    )
    assert "services/assessment/probe_routes.py" in routes_touching_the_store(tree)


def test_a_route_that_only_calls_the_service_layer_passes(tree):
    (tree / "services" / "assessment" / "probe_routes.py").write_text(
        "from flask_smorest import Blueprint\n\ndef get(deps, case_id):\n    return deps.cases.get(case_id)\n"
    )
    assert "services/assessment/probe_routes.py" not in routes_touching_the_store(tree)
