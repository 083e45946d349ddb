"""A dataset source tracked by DVC, read at a revision through dvc.api from a local git + DVC
repository whose data lives only in a local DVC remote."""
from __future__ import annotations

import subprocess

import pytest
from conftest import DAY1, DAY2, tool
from samples import CUSTOMERS_BLOCK, customers

pytestmark = pytest.mark.e2e


def sh(cwd, *command: str) -> str:
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def data_repo(tmp_path_factory):
    """A git repository with data/customers.csv tracked by DVC: 200 rows at tag v1, 240 at v2,
    pushed to a local remote, and 260 at v3, never pushed; all gone from the repository's cache,
    v2's file in the working tree. Yields (repo, {tag: md5})."""
    tmp_path = tmp_path_factory.mktemp("dvc")
    repo, dvc = tmp_path / "data-registry", tool("dvc")
    repo.mkdir()
    sh(repo, "git", "init", "-q")
    sh(repo, "git", "config", "user.email", "ci@example.com")
    sh(repo, "git", "config", "user.name", "ci")
    sh(repo, dvc, "init", "-q")
    sh(repo, dvc, "remote", "add", "-d", "store", str(tmp_path / "dvc-remote"))
    (repo / "data").mkdir()
    md5 = {}
    for tag, rows in (("v1", 200), ("v2", 240), ("v3", 260)):
        customers(n=rows, seed=1).to_csv(repo / "data" / "customers.csv", index=False)
        sh(repo, dvc, "add", "-q", "data/customers.csv")
        if tag != "v3":
            sh(repo, dvc, "push", "-q")
        sh(repo, "git", "add", "-A")
        sh(repo, "git", "commit", "-qm", f"customers {tag}")
        sh(repo, "git", "tag", tag)
        md5[tag] = next(line.split()[-1] for line in (repo / "data" / "customers.csv.dvc").read_text().splitlines()
                        if "md5:" in line)
    sh(repo, "rm", "-rf", ".dvc/cache")  # from here on the data comes from the remote
    sh(repo, "git", "checkout", "-q", "v2")
    customers(n=240, seed=1).to_csv(repo / "data" / "customers.csv", index=False)
    return repo, md5


def test_a_dvc_source_is_read_at_its_revision_and_the_snapshot_and_card_say_which(workspace, data_repo):
    repo, md5 = data_repo
    block = CUSTOMERS_BLOCK.format(path="dvc:data/customers.csv").replace(
        'target = "churned"', f'target = "churned"\ndvc = {{ repo = "{repo}", rev = "v1" }}')
    workspace.add_config(block)
    run = workspace.run("TrainValidateDeploy", "--dataset", "customers", DAY1)
    assert run.returncode == 0, run.output
    [snapshot] = workspace.outputs("raw")
    manifest = snapshot.manifest()
    assert manifest["rows"] == 200
    assert manifest["source"]["dvc"] == {"repo": str(repo), "rev": "v1", "commit": sh(repo, "git", "rev-parse", "v1"),
                                         "path": "data/customers.csv", "md5": md5["v1"]}
    card = workspace.read_json("models", "2026-01-01", "card.json", "customers", "logreg")
    assert card["data"]["source"]["dvc"] == manifest["source"]["dvc"]

    workspace.replace_config('rev = "v1"', 'rev = "v2"')  # another revision: another snapshot
    run = workspace.run("TrainValidateDeploy", "--dataset", "customers", DAY2)
    assert run.returncode == 0, run.output
    second = workspace.output("raw", "2026-01-02").manifest()
    assert (second["rows"], second["source"]["dvc"]["md5"]) == (240, md5["v2"])

    workspace.replace_config('rev = "v2"', 'rev = "v9"')
    missing = workspace.run("TrainValidateDeploy", "--dataset", "customers", "--date=2026-01-03")
    assert missing.returncode == 30
    [headline] = missing.headlines()
    assert headline.endswith(f"ERROR pipeline: FAILED IngestData(dataset=customers, date=2026-01-03): "
                             f"dvc:data/customers.csv ({repo} at v9): unknown Git revision 'v9'")


def test_dvc_says_which_data_it_could_not_find_and_a_working_tree_file_that_differs(data_repo):
    from pipeline.ml.errors import DataError
    from pipeline.sources import read_table

    repo, md5 = data_repo
    with pytest.raises(DataError) as unpushed:
        read_table("dvc:data/customers.csv", dvc={"repo": str(repo), "rev": "v3"})
    assert str(unpushed.value) == f"dvc:data/customers.csv ({repo} at v3): tracked, but its data is in neither the " \
                                  "DVC cache nor the remote (was it `dvc push`ed?)"
    _, info = read_table("dvc:data/customers.csv", dvc={"repo": str(repo)})  # no rev: the working tree, v2
    assert (info["dvc"]["md5"], info["dvc"]["commit"]) == (md5["v2"], sh(repo, "git", "rev-parse", "v2"))
    assert "modified" not in info["dvc"]
    customers(n=10, seed=2).to_csv(repo / "data" / "customers.csv", index=False)  # changed, not `dvc add`ed
    try:
        table, info = read_table("dvc:data/customers.csv", dvc={"repo": str(repo)})
    finally:
        customers(n=240, seed=1).to_csv(repo / "data" / "customers.csv", index=False)  # as the fixture left it
    assert table.num_rows == 10 and info["dvc"]["modified"] is True and info["dvc"]["md5"] == md5["v2"]
