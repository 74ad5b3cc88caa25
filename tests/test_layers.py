"""The package layers: imports point down only, no module import cycle, short functions, and
tests/ mirroring src/mesynth/ (each module's tests in tests/<pkg>/test_<mod>.py).

The import graph is read from the source with `ast`, so imports inside functions count as much
as those at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "mesynth"

# The bottom: modules any area may use; they import no area. A shared helper module added at the
# top level of the package belongs here too.
BOTTOM = {
    "mesynth", "atomic", "caching", "config", "console", "imaging", "launch", "media", "tracking",
}  # fmt: skip
TOP = {"cli", "__main__", "demo"}

# What each area may import besides the bottom and itself. Anything not listed is forbidden.
ALLOWED: dict[str, set[str]] = {
    "nets": set(),
    "checkpoint": {"nets"},
    "faces": set(),
    "video": {"faces"},
    # download checks a fetched file by loading it with its own area's loader
    "download": {"nets", "checkpoint", "spotting"},
    "prepare": {"faces", "video"},  # raw photos -> the aligned training faces
    "training": {"nets", "checkpoint", "faces", "video"},
    "synthesis": {"nets", "checkpoint", "faces", "video"},
    "evaluation": {"nets", "checkpoint", "faces", "video", "synthesis.output"},
    "spotting": {"nets", "checkpoint", "faces", "video", "synthesis.output", "evaluation"},
}

# A longer function says why in a `# long: <reason>` comment on the line above its `def` (or
# above its decorators) or on the lines of its signature. LONG_ALLOWED ("area:function" ->
# reason) is for a function that cannot carry the comment itself; empty while every long
# function says why in its own source.
MAX_FUNCTION_LINES = 60
LONG_ALLOWED: dict[str, str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def resolve(target: str, known: dict[str, Path]) -> str | None:
    """The known module `target` names, or its nearest known parent package."""
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target or None


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """Ids of the import nodes under ``if TYPE_CHECKING:`` (never run, so never a cycle)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return skipped


def _on_import(tree: ast.AST) -> list[ast.AST]:
    """The nodes that run when the module is imported (function bodies left out)."""
    found, pending = [], list(ast.iter_child_nodes(tree))
    while pending:
        node = pending.pop()
        found.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            pending.extend(ast.iter_child_nodes(node))
    return found


def imported_modules(
    name: str,
    path: Path,
    known: dict[str, Path],
    type_checking: bool = True,
    in_functions: bool = True,
) -> set[str]:
    """Every mesynth module `name` imports, at any depth of the source (functions included);
    ``type_checking=False`` leaves out the imports only type checkers run, ``in_functions=False``
    those inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    skipped = set() if type_checking else _type_checking_blocks(tree)
    found: set[str] = set()
    for node in ast.walk(tree) if in_functions else _on_import(tree):
        if id(node) in skipped:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from package import module` imports the module; `from module import name` the module.
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                for alias in node.names
            ]
        for target in targets:
            if target == "mesynth" or target.startswith("mesynth."):
                resolved = resolve(target, known)
                if resolved and resolved != name:
                    found.add(resolved)
    return found


def import_graph(type_checking: bool = True, in_functions: bool = True) -> dict[str, set[str]]:
    known = modules()
    return {
        name: imported_modules(name, path, known, type_checking, in_functions)
        for name, path in known.items()
    }


def loaded_with(module: str, graph: dict[str, set[str]]) -> set[str]:
    """``module`` and every module importing it loads (the closure over ``graph``)."""
    seen, pending = set(), [module]
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            pending.extend(graph.get(current, ()))
    return seen


def area_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "mesynth"


def allowed(importer: str, imported: str) -> bool:
    source, target = area_of(importer), area_of(imported)
    if source == target or target in BOTTOM:
        return True
    if target in TOP:
        return False
    if source in TOP:
        return True
    if source in BOTTOM:
        return False
    rules = ALLOWED[source]
    sub_area = ".".join(imported.split(".")[1:3])
    return target in rules or sub_area in rules


def test_every_area_has_a_rule():
    areas = {area_of(name) for name in modules()}
    assert areas - BOTTOM - TOP - set(ALLOWED) == set(), "add the new area to ALLOWED"


def test_imports_point_down_only():
    graph = import_graph()
    wrong = sorted(
        f"{importer} imports {imported}"
        for importer, targets in graph.items()
        for imported in targets
        if not allowed(importer, imported)
    )
    assert wrong == []


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for neighbour in sorted(graph.get(node, ())):
            if neighbour not in index:
                visit(neighbour)
                low[node] = min(low[node], low[neighbour])
            elif neighbour in on_stack:
                low[node] = min(low[node], index[neighbour])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_find_cycles_sees_a_circle_through_three_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_import_cycle():
    # Imports under `if TYPE_CHECKING:` never run; the layer test above still counts them.
    assert find_cycles(import_graph(type_checking=False)) == []


def test_the_walk_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "mesynth" / "evaluation" / "x.py"
    module.parent.mkdir(parents=True)
    module.write_text("def f():\n    from mesynth.spotting.experiment import evaluate\n")
    known = {"mesynth.evaluation.x": module, "mesynth.spotting.experiment": module}
    found = imported_modules("mesynth.evaluation.x", module, known)
    assert found == {"mesynth.spotting.experiment"}
    assert not allowed("mesynth.evaluation.x", "mesynth.spotting.experiment")
    assert allowed("mesynth.spotting.experiment", "mesynth.evaluation.x")
    assert allowed("mesynth.evaluation.x", "mesynth.synthesis.output")
    assert not allowed("mesynth.evaluation.x", "mesynth.synthesis.pipeline")


def long_functions() -> list[str]:
    """``module:function (N lines)`` of every function over the limit without a reason."""
    found = []
    for name, path in modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = node.end_lineno - node.lineno + 1
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            head = "\n".join(lines[max(0, first - 2) : node.body[0].lineno - 1])
            if length <= MAX_FUNCTION_LINES or "# long:" in head:
                continue
            if f"{area_of(name)}:{node.name}" not in LONG_ALLOWED:
                found.append(f"{name}:{node.name} ({length} lines)")
    return sorted(found)


def test_no_function_over_sixty_lines_without_a_reason():
    assert long_functions() == []


def test_registering_spotting_with_the_evaluation_loads_no_spotting_machinery():
    """The entry point registers every analysis; for task=au that must stay light: the spotting
    experiment, its data, features, folds and spotters load only when its analysis runs."""
    on_import = import_graph(in_functions=False)
    spotting = {m for m in loaded_with("mesynth.spotting.analysis", on_import) if "spotting" in m}
    assert spotting == {"mesynth.spotting.analysis", "mesynth.spotting.outputs"}
    evaluation = loaded_with("mesynth.evaluation.pipeline", import_graph())
    assert not [m for m in evaluation if m.startswith("mesynth.spotting")]


TESTS = Path(__file__).resolve().parent

# Modules without a test file at their mirror path (module -> why); keep it small.
NO_MIRROR: dict[str, str] = {
    "__main__": "the `mesynth COMMAND` front door: each command is tested where it lives "
    "(tests/download/test_cli.py, tests/prepare/test_cli.py, tests/spotting/test_scoring.py)",
    "download.__main__": "`python -m mesynth.download` shim; tests/download/test_cli.py runs it",
}


def mirror_path(module: Path, package: Path = PACKAGE, tests: Path = TESTS) -> Path:
    """Where the tests of ``src/mesynth/<pkg>/<mod>.py`` live: ``tests/<pkg>/test_<mod>.py``."""
    relative = module.relative_to(package)
    return tests / relative.parent / f"test_{relative.name}"


def modules_without_mirror(package: Path = PACKAGE, tests: Path = TESTS) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.name != "__init__.py" and not mirror_path(path, package, tests).is_file():
            found.append(path.relative_to(package).with_suffix("").as_posix().replace("/", "."))
    return found


def test_mirror_path_of_a_module_and_of_a_top_level_one():
    assert mirror_path(PACKAGE / "nets" / "masks.py") == TESTS / "nets" / "test_masks.py"
    assert mirror_path(PACKAGE / "atomic.py") == TESTS / "test_atomic.py"


def test_a_new_module_without_its_test_file_is_found(tmp_path):
    package, tests = tmp_path / "src" / "mesynth", tmp_path / "tests"
    for path in ("__init__.py", "top.py", "area/__init__.py", "area/new.py", "area/old.py"):
        (package / path).parent.mkdir(parents=True, exist_ok=True)
        (package / path).write_text("")
    for path in ("test_top.py", "area/test_old.py", "test_new.py"):  # test_new.py: wrong place
        (tests / path).parent.mkdir(parents=True, exist_ok=True)
        (tests / path).write_text("")
    assert modules_without_mirror(package, tests) == ["area.new"]


def test_every_module_has_a_test_file_at_its_mirror_path():
    """tests/ mirrors src/mesynth/: a new module comes with tests/<pkg>/test_<mod>.py."""
    missing = [name for name in modules_without_mirror() if name not in NO_MIRROR]
    assert missing == [], (
        "modules without a test file at their mirror path (src/mesynth/a/b.py -> "
        f"tests/a/test_b.py): {missing}; write the tests there, or say in NO_MIRROR why not"
    )
    stale = sorted(set(NO_MIRROR) - set(modules_without_mirror()))
    assert stale == [], f"NO_MIRROR names modules that have tests or no longer exist: {stale}"
