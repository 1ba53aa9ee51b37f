"""The package's layout: rooms by stage, each importing only rooms below it; no import cycle; short modules and
functions (README, "How the code is laid out")."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sentscore"

#: The rooms from the bottom up: a module may import its own room and the rooms before it, never one after.
ROOMS = (
    ("errors", "atomic", "settings"),
    ("data",),
    ("metrics",),
    ("model",),
    ("config",),
    ("scoring",),
    ("training",),
    ("evaluation", "auditing"),
    ("integrations",),
    ("serve",),
    ("cli",),
)
#: The package's face (lazy names, ``python -m sentscore``) may name any room.
FACE = ("sentscore", "sentscore.__main__")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_TOP_LEVEL_MODULES = 12


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its file (type-checking and lazy imports too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("sentscore")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if not source.startswith("sentscore"):
                continue
            submodules = {f"{source}.{alias.name}" for alias in node.names} & known
            found |= submodules or {source}
    return {module for module in found if module in known and module != name}


def room(name: str) -> int:
    top = name.split(".")[1]
    return next(index for index, members in enumerate(ROOMS) if top in members)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imported(name, path, set(found)) for name, path in found.items()}


def test_every_module_is_in_a_room(graph):
    homeless = [name for name in graph if name not in FACE and not any(name.split(".")[1] in r for r in ROOMS)]
    assert not homeless, f"add {homeless} to a room in ROOMS"


def test_no_room_imports_a_room_above_it(graph):
    upward = [
        f"{name} imports {target}"
        for name, targets in graph.items()
        if name not in FACE
        for target in targets
        if target not in FACE and room(target) > room(name)
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycle(graph):
    state: dict[str, str] = {}
    cycles = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if target in FACE:
                continue
            if state.get(target) == "open":
                cycles.append(" -> ".join([*trail[trail.index(target) :], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "\n".join(cycles)


def test_modules_and_functions_are_short():
    long_modules = [
        f"{name}: {lines} lines"
        for name, path in modules().items()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    long_functions = [
        f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for name, path in modules().items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long_modules + long_functions, "\n".join(long_modules + long_functions)


def test_the_package_root_holds_few_modules():
    top = [path.name for path in PACKAGE.glob("*.py")]
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
