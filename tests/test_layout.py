"""The package's shape: no import cycles (module-level or inside functions), no function longer
than a screen, and a README map that names every module."""
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "helpers"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, modules) -> set[str]:
    """Modules of helpers that `path` imports anywhere in its body, resolved to files."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("helpers"):
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            targets |= {n for n in names if n in modules} or {node.module}
        elif isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names if alias.name.startswith("helpers")}
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; helpers uses absolute imports")
    return {t for t in targets if t in modules}


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    state: dict[str, str] = {}

    def visit(name, trail):
        state[name] = "open"
        for target in graph[name]:
            if state.get(target) == "open":
                raise AssertionError("import cycle: " + " -> ".join(trail + [name, target]))
            if target not in state:
                visit(target, trail + [name])
        state[name] = "done"

    for name in graph:
        if name not in state:
            visit(name, [])


def test_no_function_longer_than_a_screen():
    long = []
    for path in _modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long


def test_readme_map_names_every_module():
    """Every module of helpers/ has its line in the README's tree, under its own subpackage."""
    readme = (REPO / "README.md").read_text()
    tree = readme[readme.index("## Repository map"):].split("```")[1]
    named, package = set(), ""
    for line in tree.splitlines():
        indent, word = len(line) - len(line.lstrip()), (line.split() or [""])[0]
        if indent == 2 and word.endswith("/"):
            package = word
        elif indent in (2, 4) and word.endswith(".py"):
            named.add(word if indent == 2 else package + word)
    modules = {str(path.relative_to(PACKAGE)) for path in _modules().values()}
    missing = sorted(m for m in modules if m not in named and not m.endswith("/__init__.py"))   # subpackage docstrings
    assert not missing, f"README's repository map does not name: {missing}"
