"""The house in layers (#19, #30). import-linter (`make lint`) checks the packages; scheduler.py is a
module, which import-linter cannot take as a root, so its own imports are checked here."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported(path: Path) -> set[str]:
    """The top-level names of every module ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_the_monitor_imports_nothing_above_it():
    assert "wirewatch" not in imported(ROOT / "scheduler.py")


def test_only_the_application_reads_the_environment():
    for path in [ROOT / "scheduler.py", *ROOT.glob("[a-z]*/**/*.py")]:
        if path.parts[len(ROOT.parts)] in {"wirewatch", "tests", "bench", "build", ".venv"}:
            continue
        text = path.read_text(encoding="utf-8")
        assert "os.environ" not in text and "getenv(" not in text, path


def test_no_test_module_imports_another_or_the_conftest():
    for path in (ROOT / "tests").rglob("*.py"):
        modules = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules.add(node.module)
        shared = {m for m in modules if m.split(".")[-1].startswith(("test_", "conftest"))}
        assert not shared, f"{path}: import what tests share from tests/support, not {shared}"


def test_no_room_of_the_runtime_is_over_500_lines():
    # The daemon was 1,117 lines doing four jobs (#30); its rooms stay small enough to read.
    for path in [
        ROOT / "scheduler.py",
        *(ROOT / "monitor").glob("*.py"),
        *(ROOT / "workers").glob("*.py"),
    ]:
        assert len(path.read_text().splitlines()) <= 500, path
