"""The project's own import graph: no cycles, the library never imports the app, no hidden imports.

Read from the sources with `ast` (nothing is imported): every .py under condgan/ and
under the folders setup.cfg maps into the package (`package_dir`: data_prep/ is
`condgan.data_prep`, experiments/configs/ is `condgan.configs`). An edge A -> B is an
explicit import in module A of a condgan module B: `import condgan.x`, `from condgan
import x`, `from condgan.x import y`, `from . import x` (relative imports resolved).
`from P import x` is an edge to the submodule P.x when x is one, else to P; importing a
package's submodule adds no edge to the package itself (even though Python runs its
__init__). Imports under `if TYPE_CHECKING:` count.

The rules (`condgan/__init__.py` says where the library ends and the app starts):

- no import cycle;
- nothing outside the app, `condgan.training`, imports it: neither the library (the
  rest of condgan/) nor `condgan.data_prep`;
- an import inside a function (or class) body states its reason in a comment on its
  line (`# noqa: PLC0415 - <reason>`): a hidden import hides a dependency, and with it
  a cycle, from the reader and from this test;
- every condgan module imported exists, and so does every name imported from one
  (`from condgan.x import name`: bound at the top level of condgan/x.py).

Each rule is also run on a small synthetic tree that breaks it, so a checker that
finds nothing cannot pass unnoticed.
"""

from __future__ import annotations

import ast
import configparser
import dataclasses
import functools
import io
import pathlib
import re
import textwrap
import tokenize

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOP = "condgan"
APP = "condgan.training"


@dataclasses.dataclass(frozen=True)
class Import:
    """One import of a condgan module.

    Attributes:
      source: the importing module (dotted name).
      target: the imported module, or `target` as written when no such module exists.
      where: "path:line" of the import statement.
      local: the statement is inside a function, lambda or class body.
      comment: the comments on the statement's lines ("" if none).
      exists: `target` is a module of the tree (False for the non-condgan imports).
    """

    source: str
    target: str
    where: str
    local: bool
    comment: str
    exists: bool = True


def package_trees(root: pathlib.Path) -> dict[pathlib.Path, str]:
    """Folder -> package name: condgan/ and setup.cfg's package_dir entries under condgan."""
    trees = {root / TOP: TOP}
    setup = root / "setup.cfg"
    if setup.is_file():
        parser = configparser.ConfigParser()
        parser.read(setup, encoding="utf-8")
        for line in parser.get("options", "package_dir", fallback="").splitlines():
            if "=" in line:
                name, folder = (part.strip() for part in line.split("=", 1))
                if name.startswith(TOP + "."):
                    trees[root / folder] = name
    return trees


def modules(trees: dict[pathlib.Path, str]) -> dict[str, pathlib.Path]:
    """Every module of the trees: dotted name -> file (a package's name -> its __init__.py)."""
    out = {}
    for folder, package in trees.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([package, *parts])
            if name in out:
                raise ValueError(f"module {name} is both {out[name]} and {path}")
            out[name] = path
    return out


def _comments(source: str) -> dict[int, str]:
    """Line number -> the comment text on that line."""
    out = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            out[token.start[0]] = token.string
    return out


@functools.cache
def _defined_names(path: pathlib.Path) -> set[str]:
    """Names bound at the top level of a module (defs, classes, assignments, imports; also
    inside top-level if / try / with / for blocks, not inside functions or classes)."""
    names = set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(child.name)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in child.names)
            elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
            elif not isinstance(child, (ast.Lambda, ast.expr_context)):
                visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return names


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module named by `from <level dots><name> import ...` in `module`."""
    if level == 0:
        return name or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    if level > 1:
        base = base[:-(level - 1)]
    return ".".join(base + ([name] if name else []))


def _statements(tree: ast.AST):
    """(import statement, local) for every import of the module; local: inside a def,
    lambda or class body."""

    def walk(node, local):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, local
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                ast.Lambda, ast.ClassDef))
            yield from walk(child, inner)

    yield from walk(tree, False)


def imports(root: pathlib.Path, trees: dict[pathlib.Path, str] | None = None) -> list[Import]:
    """Every import statement of the trees, one `Import` per condgan module it names, and
    one per non-condgan import inside a function (`target` as written), for the
    reason check.
    """
    trees = package_trees(root) if trees is None else trees
    known = modules(trees)
    out = []
    for name, path in known.items():
        source = path.read_text(encoding="utf-8")
        comments = _comments(source)
        is_package = path.name == "__init__.py"
        for node, local in _statements(ast.parse(source, filename=str(path))):
            comment = " ".join(comments[n] for n in range(node.lineno, node.end_lineno + 1)
                               if n in comments)
            where = f"{path.relative_to(root)}:{node.lineno}"
            if isinstance(node, ast.Import):  # import a.b.c: the module a.b.c
                targets = [alias.name for alias in node.names]
            else:  # from p import x: the submodule p.x if there is one, else p
                base = _resolve(name, is_package, node.level, node.module)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                           for alias in node.names]
            for target in dict.fromkeys(targets):
                if target == TOP or target.startswith(TOP + "."):
                    exists = target in known
                    if exists and isinstance(node, ast.ImportFrom) and target == base:
                        # from package import name: name must be defined by its __init__.
                        undefined = [a.name for a in node.names if a.name != "*"
                                     and f"{base}.{a.name}" not in known
                                     and a.name not in _defined_names(known[base])]
                        if undefined:
                            target, exists = f"{base}.{undefined[0]}", False
                    out.append(Import(name, target, where, local, comment, exists))
                elif local:
                    out.append(Import(name, target, where, local, comment, exists=False))
    return out


def edges(found: list[Import]) -> dict[str, set[str]]:
    """module -> the condgan modules it imports (self-imports left out)."""
    graph: dict[str, set[str]] = {}
    for i in found:
        graph.setdefault(i.source, set())
        if i.exists and i.target.startswith(TOP) and i.target != i.source:
            graph[i.source].add(i.target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle [a, b, ..., a] of `graph`, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def in_app(module: str, app: str = APP) -> bool:
    return module == app or module.startswith(app + ".")


def upward_imports(found: list[Import], app: str = APP) -> list[Import]:
    """Imports of the app from a module outside it."""
    return [i for i in found if i.exists and in_app(i.target, app) and not in_app(i.source, app)]


def stated_reason(comment: str) -> str:
    """The reason in an import line's comment: its text without '#' and the `noqa` directive."""
    text = re.sub(r"#\s*noqa(:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*)?", " ", comment)
    text = re.sub(r"#\s*(pylint|type|pyright):[^#]*", " ", text)
    text = text.replace("#", " ").strip(" -:;,")
    return text if re.search(r"[A-Za-z]{3}", text) else ""


def unexplained_local_imports(found: list[Import]) -> list[Import]:
    """Imports inside a function or class body whose line gives no reason."""
    return [i for i in found if i.local and not stated_reason(i.comment)]


def missing_modules(found: list[Import]) -> list[Import]:
    """Imports of condgan modules (or of names in them) that do not exist."""
    return [i for i in found if not i.exists and (i.target == TOP or i.target.startswith(TOP + "."))]


def _describe(found: list[Import]) -> str:
    return "\n".join(f"  {i.where}: {i.source} imports {i.target}"
                     + (f"  {i.comment}" if i.comment else "") for i in found)


def _cycle_text(cycle: list[str], found: list[Import]) -> str:
    where = {(i.source, i.target): i.where for i in found}
    return "\n".join(f"  {a} -> {b}  ({where.get((a, b), '?')})" for a, b in zip(cycle, cycle[1:]))


# --- the project -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project():
    return imports(ROOT)


def test_the_project_tree_is_read(project):
    names = set(modules(package_trees(ROOT)))
    # The library, the app and data_prep (under its one import name) are all there.
    assert {"condgan", "condgan.gan", "condgan.training.loop", "condgan.data_prep.prepare",
            "condgan.evaluation.plots"} <= names
    assert ("condgan.training.loop", "condgan.training.trainer") in {
        (i.source, i.target) for i in project}


def test_no_import_cycles(project):
    cycle = find_cycle(edges(project))
    assert cycle is None, "import cycle:\n" + _cycle_text(cycle, project)


def test_nothing_outside_the_app_imports_it(project):
    upward = upward_imports(project)
    assert not upward, f"modules outside {APP} import it:\n" + _describe(upward)


def test_every_import_inside_a_function_states_its_reason(project):
    hidden = unexplained_local_imports(project)
    assert not hidden, ("imports inside functions without a reason on their line (move them "
                        "to the top, or say why: `# noqa: PLC0415 - <reason>`):\n"
                        + _describe(hidden))


def test_every_imported_condgan_module_exists(project):
    missing = missing_modules(project)
    assert not missing, "imports of condgan modules or names that do not exist:\n" + _describe(missing)


# --- the checker, on trees that break each rule ------------------------------------------


def _tree(root: pathlib.Path, files: dict[str, str]) -> dict[pathlib.Path, str]:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return {root / "condgan": "condgan", root / "prep": "condgan.data_prep"}


CLEAN = {
    "condgan/__init__.py": "",
    "condgan/a.py": "import numpy as np\nfrom condgan import b\n",
    "condgan/b.py": "X = 1\n",
    "condgan/sub/__init__.py": "from . import c\n",
    "condgan/sub/c.py": "from ..b import X\n",
    "condgan/training/__init__.py": "",
    "condgan/training/app.py": """\
        from condgan import a
        from condgan.sub import c

        def main():
            import tensorflow as tf  # noqa: PLC0415 - after flag parsing (fast --help)
            from condgan.training import (  # noqa: PLC0415 - the same reason
                other,
            )
            return tf, other
        """,
    "condgan/training/other.py": "import condgan.b\n",
    "prep/__init__.py": "",
    "prep/tool.py": "from condgan import a\nfrom condgan.data_prep import helper\n",
    "prep/helper.py": "",
}


def test_checker_passes_a_clean_tree_and_resolves_every_kind_of_import(tmp_path):
    trees = _tree(tmp_path, CLEAN)
    found = imports(tmp_path, trees)
    graph = edges(found)
    assert graph["condgan.a"] == {"condgan.b"}
    assert graph["condgan.sub"] == {"condgan.sub.c"}                 # from . import c
    assert graph["condgan.sub.c"] == {"condgan.b"}                   # from ..b import X
    assert graph["condgan.training.app"] == {"condgan.a", "condgan.sub.c", "condgan.training.other"}
    assert graph["condgan.training.other"] == {"condgan.b"}        # import condgan.b
    assert graph["condgan.data_prep.tool"] == {"condgan.a", "condgan.data_prep.helper"}
    assert find_cycle(graph) is None
    assert not upward_imports(found)
    assert not unexplained_local_imports(found)
    assert not missing_modules(found)


def test_checker_finds_a_cycle_also_through_a_local_import(tmp_path):
    files = {**CLEAN, "condgan/b.py": """\
        X = 1

        def f():
            from condgan.sub import c  # noqa: PLC0415 - hides the cycle from a reader
            return c
        """}
    found = imports(tmp_path, _tree(tmp_path, files))
    cycle = find_cycle(edges(found))
    # b -> sub.c -> b, from wherever the search entered it.
    assert cycle is not None and cycle[0] == cycle[-1] and len(cycle) == 3
    assert set(cycle) == {"condgan.b", "condgan.sub.c"}
    assert "condgan/b.py:4" in _cycle_text(cycle, found)
    files["condgan/training/other.py"] = "import condgan.training.app\n"  # app <-> other too
    assert find_cycle({k: v for k, v in edges(imports(tmp_path, _tree(tmp_path, files))).items()
                       if not k.startswith("condgan.sub")}) == [
        "condgan.training.app", "condgan.training.other", "condgan.training.app"]


def test_checker_finds_upward_imports(tmp_path):
    files = {**CLEAN,
             "condgan/b.py": "X = 1\nfrom condgan.training.app import main\n",
             "prep/helper.py": "import condgan.training\n"}
    upward = upward_imports(imports(tmp_path, _tree(tmp_path, files)))
    assert sorted((i.source, i.target) for i in upward) == [
        ("condgan.b", "condgan.training.app"), ("condgan.data_prep.helper", "condgan.training")]


def test_checker_finds_local_imports_without_a_reason(tmp_path):
    files = {**CLEAN, "condgan/b.py": """\
        X = 1

        def f():
            from condgan import a
            return a

        def g():
            import json  # noqa: PLC0415
            return json

        class K:
            from condgan.sub import c  # pylint: disable=import-outside-toplevel

        def h():
            from condgan import sub  # noqa: PLC0415 - a stated reason is enough
            return sub
        """}
    hidden = unexplained_local_imports(imports(tmp_path, _tree(tmp_path, files)))
    assert sorted((i.where, i.target) for i in hidden) == [
        ("condgan/b.py:12", "condgan.sub.c"), ("condgan/b.py:4", "condgan.a"),
        ("condgan/b.py:8", "json")]


def test_checker_finds_imports_of_missing_modules(tmp_path):
    files = {**CLEAN,
             "condgan/b.py": ("import condgan.gone\nfrom condgan.sub.nothing import y\n"
                              "from condgan import layers\nfrom condgan.sub import c\n"),
             "condgan/a.py": "from condgan.b import X, Y\n"}
    missing = [i.target for i in missing_modules(imports(tmp_path, _tree(tmp_path, files)))]
    # b no longer defines X (sub.c imports it too); `from condgan import layers` names neither
    # a module nor a name of condgan/__init__.py.
    assert sorted(missing) == ["condgan.b.X", "condgan.b.X", "condgan.gone", "condgan.layers",
                               "condgan.sub.nothing"]


@pytest.mark.parametrize("comment,reason", [
    ("", ""),
    ("# noqa: PLC0415", ""),
    ("# noqa: PLC0415, F401", ""),
    ("# noqa", ""),
    ("# pylint: disable=g-import-not-at-top", ""),
    ("# noqa: PLC0415 - TensorFlow after flag parsing", "TensorFlow after flag parsing"),
    ("# optional dependency (torch)", "optional dependency (torch)"),
])
def test_stated_reason(comment, reason):
    assert stated_reason(comment) == reason
