"""Pinned, reproducible installs (#20): what is installed is what the lock says.

`make test` installs requirements-test.lock with pip's hash checking; these tests hold the
installed versions to it. In CI (``$CI`` set, a fresh virtualenv), nothing but the locked
packages and wirewatch itself may be installed; a developer's venv may hold tools of their own.
"""

from __future__ import annotations

import os
import re
from importlib.metadata import distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)", re.M)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(name: str) -> dict[str, str]:
    return {canonical(n): v for n, v in PIN.findall((ROOT / name).read_text(encoding="utf-8"))}


def installed() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in distributions()}


def test_every_locked_package_has_hashes_and_the_run_lock_agrees_with_the_test_lock():
    text = (ROOT / "requirements-test.lock").read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text.split("\n\n", 1)[-1])
    for block in blocks:
        if PIN.match(block):
            assert "--hash=sha256:" in block, block.splitlines()[0]
    run, test = locked("requirements.lock"), locked("requirements-test.lock")
    assert set(run) <= set(test)
    assert {name: run[name] for name in run} == {name: test[name] for name in run}


def test_the_installed_versions_are_the_locked_ones():
    lock, have = locked("requirements-test.lock"), installed()
    assert {n: have.get(n) for n in lock} == lock


@pytest.mark.skipif(
    not os.environ.get("CI"), reason="a developer's venv may hold tools of their own; CI checks"
)
def test_nothing_is_installed_that_the_lock_does_not_name():
    extra = set(installed()) - set(locked("requirements-test.lock")) - {"wirewatch"}
    assert not extra, f"installed but not locked: {sorted(extra)}"


def test_the_package_builds_without_a_warning(tmp_path):
    """A build that warns (data folders missing from the packages) is one a user sees on
    every ``pip install .``; the wheel must also carry the package data the commands read."""
    import shutil
    import subprocess
    import sys
    import zipfile

    # A copy, as setuptools builds in the source tree (build/), which must stay clean.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__", "*_cache", "demo-out"
        ),
    )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    output = built.stdout + built.stderr
    assert "BuildBackendWarning" not in output and "SetuptoolsDeprecationWarning" not in output
    (wheel,) = tmp_path.glob("wirewatch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "wirewatch/starter.toml" in names
    assert any(name.startswith("alerts/templates/") for name in names)
    assert any(name.startswith("wirewatch/demo_site/tehrantimes/") for name in names)
    assert not any(name.startswith("tests/") for name in names)
