"""The application's modules import one another in one direction: no import circle, counting the
imports written inside functions too (they are circles all the same, only hidden)."""

import ast
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
APPS = ("portal", "upgrades", "scheduling")


def modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in (PROJECT_DIR / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(PROJECT_DIR).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the application modules it imports (`from a.b import c` imports a.b, and a.b.c
    when that is a module)."""
    known = modules()
    graph = {name: set() for name in known}
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            graph[name] |= {target for target in targets if target in known and target != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_module_of_the_portal_imports_itself_back():
    assert circles(import_graph()) == []


def test_the_check_finds_a_circle_hidden_in_a_function():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert import_graph()["upgrades.services.runs"] >= {"upgrades.services.engine", "upgrades.services.readiness"}


# The apps stand on one another in this order: a module imports its own app and the apps below
# it. Scheduling books engineers' time for upgrade requests, so it stands on upgrades; upgrades
# stand on the portal's accounts and fleet. What upgrades ask of the calendar goes through
# settings.UPGRADE_BOOKING, and what they announce to it through upgrades.signals.
LAYERS = ("portal", "upgrades", "scheduling")
# The modules that put the apps together: the URLs and the demo's loader.
COMPOSITION = {"portal.urls", "portal.management.commands.demo"}


def back_references(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    rank = {app: level for level, app in enumerate(LAYERS)}
    return sorted(
        (module, imported)
        for module, imports in graph.items() if module not in COMPOSITION
        for imported in imports if rank[imported.split(".")[0]] > rank[module.split(".")[0]]
    )


def test_an_app_imports_only_the_apps_below_it():
    assert back_references(import_graph()) == []


def test_the_check_finds_an_import_from_an_app_above():
    graph = {"upgrades.views": {"scheduling.selectors", "portal.models"}, "scheduling.api": {"upgrades.api"},
             "portal.urls": {"scheduling.api"}}
    assert back_references(graph) == [("upgrades.views", "scheduling.selectors")]
