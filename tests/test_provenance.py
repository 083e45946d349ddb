"""What a model card records about the code and packages that made it."""
import subprocess
from importlib import metadata

from pipeline.provenance import PACKAGES, git_commit, package_versions


def git(root, *args):
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def test_the_code_version_is_the_commit_marked_dirty_by_a_change_to_a_tracked_file(tmp_path):
    assert git_commit.__wrapped__(tmp_path) is None  # not a checkout
    git(tmp_path, "init", "-q")
    (tmp_path / "train.py").write_text("print(1)\n")
    assert git_commit.__wrapped__(tmp_path) is None  # no commit yet
    git(tmp_path, "add", "train.py")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    head = git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "notes.txt").write_text("untracked files do not count\n")
    assert git_commit.__wrapped__(tmp_path) == head
    (tmp_path / "train.py").write_text("print(2)\n")
    assert git_commit.__wrapped__(tmp_path) == f"{head}-dirty"


def test_package_versions_are_the_installed_ones():
    assert package_versions() == {name: metadata.version(name) for name in PACKAGES}
