"""Where a model came from: code version and the versions of the packages that shaped it."""
from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

PACKAGES = ("luigi", "scikit-learn", "pandas", "numpy", "pyarrow", "joblib")
MODULES = {"scikit-learn": "sklearn"}  # the import name, where it is not the package's


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """The version of each package that shapes a model: its module's own (imported by then, as a fit
    needs them), else the installed distribution's (importlib.metadata scans every one: 5 ms)."""
    import importlib
    from importlib import metadata

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = getattr(importlib.import_module(MODULES.get(name, name)), "__version__", None) \
                or metadata.version(name)
        except (ImportError, metadata.PackageNotFoundError):
            versions[name] = "not installed"
    return versions


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The checkout's commit (with '-dirty' for local changes), or None outside a git checkout."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def provenance() -> dict:
    """What a model card records about the software that made it."""
    return {"packages": package_versions(), "code_version": git_commit()}
