"""Where a model came from: code version and the versions of the packages that shaped it."""
from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

PACKAGES = ("luigi", "scikit-learn", "pandas", "numpy", "pyarrow", "joblib")
MODULES = {"scikit-learn": "sklearn"}  # the import name, where it is not the package's

CHECKOUT = Path(__file__).resolve().parent.parent


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
def git_commit(root: Path = CHECKOUT) -> str | None:
    """The checkout's commit (with '-dirty' for local changes), or None outside a git checkout or
    before its first commit. One `git status` says both."""
    if not (root / ".git").exists():
        return None
    try:
        status = subprocess.run(["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=10, check=True).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    commit = next((line.split()[2] for line in status if line.startswith("# branch.oid ")), "(initial)")
    if commit == "(initial)":
        return None
    return commit + ("-dirty" if any(not line.startswith("#") for line in status) else "")


def provenance() -> dict:
    """What a model card records about the software that made it."""
    return {"packages": package_versions(), "code_version": git_commit()}
