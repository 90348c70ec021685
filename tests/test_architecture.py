"""The package's folders are its architecture, and the imports follow it.

Stages are scripts that ``dvc.yaml`` runs and tools are commands around them; both stand on the
library (core, data, model, evaluation), which never leans back on them, so editing a stage's
inputs and outputs cannot break an evaluation set or the benchmark. The library is layered:
core imports nothing else of rewardlab, data stands on core, model on data, evaluation on all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "src/rewardlab"
# What each library layer may import from rewardlab, besides itself.
LAYERS = {
    "core": set(),
    "data": {"core"},
    "model": {"core", "data"},
    "evaluation": {"core", "data", "model"},
}
LOOSE_ALLOWED = {"cli.py", "rlhf.py"}  # the command and the public RLHF hand-off


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rewardlab_imports(path: Path) -> set[str]:
    """Every ``rewardlab`` module a file imports, wherever in the file (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "rewardlab" or name.startswith("rewardlab.")}


def _part(module: str) -> str:
    """The top-level part of rewardlab a module belongs to: ``rewardlab.data.x`` → ``data``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _sources() -> dict[str, set[str]]:
    return {_module(p): rewardlab_imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_only_stages_and_the_command_import_stages_or_tools():
    offenders = {}
    for module, imports in _sources().items():
        part = _part(module)
        if module == "rewardlab.cli":
            continue
        bad = {
            name
            for name in imports
            if (_part(name) == "stages" and part != "stages")
            or (_part(name) == "tools" and part not in {"tools"})
        }
        if bad:
            offenders[module] = sorted(bad)
    assert offenders == {}


def test_stages_do_not_import_each_other():
    offenders = {}
    for module, imports in _sources().items():
        if _part(module) != "stages":
            continue
        others = {
            name
            for name in imports
            if _part(name) == "stages" and name not in {"rewardlab.stages", module}
        }
        if others:
            offenders[module] = sorted(others)
    assert offenders == {}


def test_the_library_is_layered():
    offenders = {}
    for module, imports in _sources().items():
        part = _part(module)
        if part not in LAYERS:
            continue
        allowed = LAYERS[part] | {part}
        bad = {name for name in imports if _part(name) not in allowed}
        if bad:
            offenders[module] = sorted(bad)
    assert offenders == {}


def test_few_modules_stay_loose_at_the_package_root():
    """A new module goes into the part it belongs to (core, data, model, evaluation)."""
    loose = {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py", "__main__.py"}
    assert loose <= LOOSE_ALLOWED, sorted(loose - LOOSE_ALLOWED)


def test_the_checker_sees_a_violation(tmp_path):
    """The rule above can fail: a library module importing a stage is caught, lazily or not."""
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from rewardlab.stages.prepare import main\n")
    assert "rewardlab.stages.prepare" in rewardlab_imports(module)
    assert _part("rewardlab.stages.prepare") == "stages"


def _file(module: str) -> Path | None:
    path = PACKAGE.parent.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None  # a name imported from a module, not a module


def code_run_by(module: str) -> set[Path]:
    """The rewardlab source files a module runs: its own and everything it imports, transitively.
    Package ``__init__`` files hold only docstrings and are left out."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        path = _file(todo.pop())
        if path is None or path in seen:
            continue
        seen.add(path)
        todo.extend(rewardlab_imports(path))
    return {path for path in seen if path.name != "__init__.py"}


def test_each_stage_depends_on_the_code_it_runs_and_on_no_tool():
    """dvc.yaml's deps are what makes `dvc repro` rerun a stage whose code changed: a file the
    stage runs but does not list would leave stale outputs, and a tool listed would rerun a
    stage for an edit that cannot change it."""
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    missing, tools = {}, {}
    for name, stage in stages.items():
        deps = [REPO_ROOT / dep for dep in stage["deps"] if dep.startswith("src/")]
        for dep in deps:
            assert dep.exists(), f"{name}: dep {dep} does not exist"
        tools[name] = [str(dep) for dep in deps if "tools" in dep.relative_to(PACKAGE).parts]
        uncovered = {
            str(path.relative_to(REPO_ROOT))
            for path in code_run_by(f"rewardlab.stages.{name}")
            if not any(path == dep or dep in path.parents for dep in deps)
        }
        missing[name] = sorted(uncovered)
    assert missing == {name: [] for name in stages}
    assert tools == {name: [] for name in stages}
