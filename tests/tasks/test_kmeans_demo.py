"""digits + kmeans reproduces scikit-learn's "K-Means clustering on the handwritten digits data"."""
import json

import pytest
from sklearn import metrics
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

pytestmark = pytest.mark.e2e


def demo_kmeans_pp():
    """The demo's k-means++ row, computed as the demo does (bench_k_means, same estimator)."""
    data, labels = load_digits(return_X_y=True)
    estimator = make_pipeline(
        StandardScaler(), KMeans(init="k-means++", n_clusters=10, n_init=4, random_state=0)).fit(data)
    predicted = estimator[-1].labels_
    return {
        "inertia": estimator[-1].inertia_,
        "homogeneity": metrics.homogeneity_score(labels, predicted),
        "completeness": metrics.completeness_score(labels, predicted),
        "v_measure": metrics.v_measure_score(labels, predicted),
        "ari": metrics.adjusted_rand_score(labels, predicted),
        "ami": metrics.adjusted_mutual_info_score(labels, predicted),
    }


def test_kmeans_config_reproduces_the_demo_table(workspace):
    run = workspace.run("TrainValidateDeploy", "--dataset", "digits", "--model", "kmeans")
    assert run.returncode == 0, run.output
    ours = json.loads(next((workspace.data / "evaluations" / "digits" / "kmeans").rglob("metrics.json")).read_text())
    assert ours["n_samples"] == 1797  # fitted and scored on every row, as the demo does
    for name, value in demo_kmeans_pp().items():
        assert ours[name] == pytest.approx(value, rel=1e-6), name
