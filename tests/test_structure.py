"""The code's boundaries, read from the source with `ast`: the library and the studio's runtime never
import gradio, no module imports itself round a cycle, and the layers point one way:
demo.page -> demo.runtime -> meta (demo.tools -> demo.runtime)."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_files() -> dict[str, Path]:
    """Dotted name -> file of every module under meta/ and demo/, and app.py."""
    files = {"app": ROOT / "app.py"}
    for path in sorted([*(ROOT / "meta").rglob("*.py"), *(ROOT / "demo").rglob("*.py")]):
        parts = path.relative_to(ROOT).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def imported_names(name: str, path: Path) -> set[str]:
    """Every module name an import statement in the file mentions, function-local ones included;
    `from X import y` gives both X and X.y (y may be a submodule)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of this repository it imports (a name resolved to its longest known prefix)."""
    files = module_files()
    graph = {}
    for name, path in files.items():
        edges = set()
        for imported in imported_names(name, path):
            while imported and imported not in files:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                edges.add(imported)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search)."""
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_library_and_the_runtime_never_import_gradio():
    files = module_files()
    checked = [n for n in files if within(n, "meta") or within(n, "demo.runtime")]
    assert "meta.inner" in checked and "demo.runtime.engine" in checked
    offenders = {n: sorted(i for i in imported_names(n, files[n]) if i.split(".")[0] in ("gradio", "gradio_client"))
                 for n in checked}
    assert not {n: i for n, i in offenders.items() if i}, "gradio imported by the library or the runtime"
    # ... nor through what they import: load them all in a fresh interpreter
    code = (f"import importlib, sys\nfor m in {checked!r}:\n    importlib.import_module(m)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'gradio', 'gradio_client'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"importing meta and demo.runtime loads {out.stdout.strip()}"


def test_no_import_cycles():
    graph = import_graph()
    assert graph["meta.sampling"] and graph["demo.page.handlers"]  # the graph sees the imports
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_layers_point_one_way():
    """page -> runtime -> meta; tools -> runtime. The runtime never imports the page, the tools or
    app.py; the library never imports the studio."""
    forbidden = {"demo.runtime": ("demo.page", "demo.tools", "app"), "meta": ("demo", "app")}
    wrong = [f"{name} imports {e}" for name, edges in import_graph().items() for layer, banned in forbidden.items()
             if within(name, layer) for e in sorted(edges) if any(within(e, b) for b in banned)]
    assert not wrong, "\n".join(wrong)
