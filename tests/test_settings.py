"""pipeline.toml: checked keys and types, lookups by name, gates, safe names."""
from __future__ import annotations

import textwrap

import luigi.configuration
import pytest

from pipeline import settings
from pipeline.errors import ConfigError
from pipeline.settings import check_name, dataset_spec, gate_spec, load_config, model_spec

# A minimal valid dataset; tests append one bad line to it.
CHURN = """
        [datasets.churn]
        source = "churn.csv"
        target = "churned"
        problem = "classification"
"""

GOOD = """
[datasets.churn]
source = "churn.csv"
target = "churned"
problem = "classification"
split = { seed = 7 }
checks = { min_rows = 10, columns = { plan = "string" }, max_null_fraction = { plan = 0.2 } }

[datasets.houses]
source = "sklearn:diabetes"
target = "target"
problem = "regression"

[models.logreg]
estimator = "sklearn.linear_model.LogisticRegression"
params = { max_iter = 100 }

[gates.churn]
accuracy = { min = 0.8 }
tolerance = 0.01

[gates."churn.logreg"]
f1_macro = { min = 0.6 }
"""


@pytest.fixture
def use_config(tmp_path):
    """Write TOML to a file and point [pipeline] config at it; restore luigi's config afterwards."""
    config = luigi.configuration.get_config()
    had_section = config.has_section("pipeline")
    old = config.get("pipeline", "config", None) if had_section else None

    def use(text: str, name: str = "pipeline.toml"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        if not config.has_section("pipeline"):
            config.add_section("pipeline")
        config.set("pipeline", "config", str(path))
        return path

    yield use
    if old is not None:
        config.set("pipeline", "config", old)
    elif had_section:
        config.remove_option("pipeline", "config")
    elif config.has_section("pipeline"):
        config.remove_section("pipeline")


def test_config_path_comes_from_the_pipeline_section(use_config):
    path = use_config(GOOD)
    assert settings.pipeline().config == str(path)
    assert sorted(load_config()["datasets"]) == ["churn", "houses"]


def test_dataset_spec_fills_split_defaults(use_config):
    use_config(GOOD)
    spec = dataset_spec("churn")
    assert spec["split"] == {"test_size": 0.25, "seed": 7, "stratify": True}
    assert spec["checks"]["min_rows"] == 10
    assert dataset_spec("houses")["checks"] == {}


def test_model_spec_fills_defaults(use_config):
    use_config(GOOD)
    spec = model_spec("logreg")
    assert spec["estimator"] == "sklearn.linear_model.LogisticRegression"
    assert spec["params"] == {"max_iter": 100}
    assert spec["fit_on"] == "train"


def test_unknown_key_names_file_and_key(use_config):
    path = use_config("""
        [models.logreg]
        estimator = "sklearn.linear_model.LogisticRegression"
        parms = { C = 1.0 }
    """)
    message = r"models\.logreg\.parms: unknown key \(known: estimator, params"
    with pytest.raises(ConfigError, match=message) as info:
        load_config()
    assert str(info.value).startswith(f"{path}: ")


def test_unknown_key_in_a_nested_table(use_config):
    use_config(CHURN + """
        checks = { min_row = 10 }
    """)
    with pytest.raises(ConfigError, match=r"datasets\.churn\.checks\.min_row: unknown key"):
        load_config()


def test_wrong_type_names_file_key_and_value(use_config):
    path = use_config(CHURN + """
        split = { test_size = "abc" }
    """)
    message = r"datasets\.churn\.split\.test_size: expected an integer or a number, got 'abc'"
    with pytest.raises(ConfigError, match=message) as info:
        load_config()
    assert str(path) in str(info.value)


def test_boolean_is_not_accepted_as_a_number(use_config):
    use_config(CHURN + """
        checks = { min_rows = true }
    """)
    with pytest.raises(ConfigError, match=r"checks\.min_rows: expected an integer, got True"):
        load_config()


@pytest.mark.parametrize("split, message", [
    ("{ test_size = 1.5 }", "expected a fraction between 0 and 1, got 1.5"),
    ("{ test_size = 0 }", "expected a fraction between 0 and 1, got 0"),
])
def test_test_size_must_be_a_fraction(use_config, split, message):
    use_config(f"""
        [datasets.churn]
        source = "churn.csv"
        target = "churned"
        problem = "classification"
        split = {split}
    """)
    with pytest.raises(ConfigError, match=rf"datasets\.churn\.split\.test_size: {message}"):
        load_config()


def test_problem_and_required_keys_are_checked(use_config):
    use_config("""
        [datasets.churn]
        source = "churn.csv"
        problem = "classify"
    """)
    with pytest.raises(ConfigError, match=r"datasets\.churn\.problem: expected one of classification, "
                                          r"regression, clustering, got 'classify'"):
        load_config()
    use_config("""
        [datasets.churn]
        source = "churn.csv"
        problem = "regression"
    """, name="no_target.toml")
    with pytest.raises(ConfigError, match="'target' is required for regression"):
        load_config()


def test_invalid_toml_is_a_config_error(use_config):
    path = use_config("[datasets.churn\nsource = 1\n")
    with pytest.raises(ConfigError, match=f"{path}: not valid TOML"):
        load_config()


def test_missing_config_file(use_config, tmp_path):
    use_config(GOOD)
    luigi.configuration.get_config().set("pipeline", "config", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match="absent.toml: config file not found"):
        load_config()


def test_config_is_read_once_per_process(use_config):
    # A run hashes the config into output paths when scheduling and uses it again in run();
    # an edit in between must not give an artifact one config's key and another's content.
    path = use_config(GOOD)
    assert model_spec("logreg")["params"] == {"max_iter": 100}
    path.write_text(GOOD.replace("max_iter = 100", "max_iter = 300"))
    assert model_spec("logreg")["params"] == {"max_iter": 100}
    settings._load.cache_clear()  # what the next process sees
    assert model_spec("logreg")["params"] == {"max_iter": 300}


def test_unknown_dataset_name_lists_the_known_ones(use_config):
    use_config(GOOD)
    with pytest.raises(ConfigError, match=r"no dataset named 'chrun'; did you mean 'churn'\? \(known: churn, houses\)"):
        dataset_spec("chrun")
    with pytest.raises(ConfigError, match=r"no model named 'ridge' \(known: logreg\)"):
        model_spec("ridge")


@pytest.mark.parametrize("name", ["../x", "a/b", "a.b", "..", "", "-lead", "a b", "x" * 65])
def test_check_name_rejects_unsafe_names(name):
    with pytest.raises(ConfigError, match=f"dataset name {name!r} is not allowed"):
        check_name("dataset", name)


def test_check_name_rejects_a_trailing_newline():
    with pytest.raises(ConfigError):
        check_name("dataset", "digits\n")


@pytest.mark.parametrize("name", ["digits", "churn_2024", "A-b_9", "x" * 64])
def test_check_name_accepts_plain_names(name):
    assert check_name("dataset", name) == name


def test_unsafe_name_is_refused_before_the_config_is_read(use_config):
    use_config(GOOD)
    with pytest.raises(ConfigError, match=r"dataset name '\.\./churn' is not allowed"):
        dataset_spec("../churn")


def test_unsafe_dataset_name_in_the_config_is_refused(use_config):
    use_config("""
        [datasets."a.b"]
        source = "x.csv"
        target = "y"
        problem = "classification"
    """)
    with pytest.raises(ConfigError, match=r"dataset name 'a\.b' is not allowed"):
        load_config()


def test_dataset_and_model_gate_replaces_the_dataset_gate(use_config):
    use_config(GOOD)
    assert gate_spec("churn", "logreg") == {"f1_macro": {"min": 0.6}}  # no accuracy, no tolerance
    assert gate_spec("churn", "random_forest") == {"accuracy": {"min": 0.8}, "tolerance": 0.01}
    assert gate_spec("houses", "logreg") == {}


@pytest.mark.parametrize("gate, message", [
    ("acuracy = { min = 0.9 }", r"gates\.ds: unknown metric 'acuracy' \(known: classification: accuracy"),
    ('compare = "confusion_matrix"', r"gates\.ds\.compare: unknown metric 'confusion_matrix'"),
    ("r2 = { min = 0.9, max = 0.5 }", r"gates\.ds\.r2: min 0\.9 is above max 0\.5"),
])
def test_gate_metric_names_and_bounds_are_checked(use_config, gate, message):
    use_config(GOOD + f"\n[gates.ds]\n{gate}\n")
    with pytest.raises(ConfigError, match=message):
        settings.load_config()


def test_null_fraction_must_be_a_fraction(use_config):
    use_config(GOOD.replace('problem = "regression"',
                            'problem = "regression"\nchecks = { max_null_fraction = { x = 1.5 } }'))
    with pytest.raises(ConfigError, match=r"datasets\.houses\.checks\.max_null_fraction\.x: expected a fraction"):
        settings.load_config()


def test_description_is_not_part_of_a_spec(use_config):
    use_config(GOOD.replace("[models.logreg]", '[models.logreg]\ndescription = "the baseline"'))
    assert "description" not in model_spec("logreg")


# ---------------------------------------------------------------- roles and encoding

def test_roles_and_encoding_are_read_into_the_dataset_spec(use_config):
    use_config(CHURN + """
        roles = { customer = "id", plan = "categorical", tenure = "numeric", signup = "date", note = "drop" }
        encoding = { plan = "target", region = "ordinal" }
    """)
    spec = dataset_spec("churn")
    assert spec["roles"] == {"customer": "id", "plan": "categorical", "tenure": "numeric", "signup": "date",
                             "note": "drop"}
    assert spec["encoding"] == {"plan": "target", "region": "ordinal"}  # a column without a role is categorical


def test_empty_roles_and_encoding_are_left_out_of_the_spec(use_config):
    use_config(CHURN + """
        roles = {}
        encoding = {}
    """)
    spec = dataset_spec("churn")
    assert "roles" not in spec and "encoding" not in spec


@pytest.mark.parametrize("line, message", [
    ('roles = { plan = "text" }',
     r"datasets\.churn\.roles\.plan: expected one of drop, id, categorical, numeric, date, got 'text'"),
    ('encoding = { plan = "hash" }',
     r"datasets\.churn\.encoding\.plan: expected one of onehot, target, ordinal, got 'hash'"),
    ("roles = { plan = 3 }", r"datasets\.churn\.roles\.plan: expected a string, got 3"),
])
def test_role_and_encoding_values_are_checked_naming_the_key(use_config, line, message):
    path = use_config(CHURN + line + "\n")
    with pytest.raises(ConfigError, match=message) as refused:
        load_config()
    assert str(refused.value).startswith(f"{path}: datasets.churn.")


@pytest.mark.parametrize("role", ["numeric", "date", "id", "drop"])
def test_encoding_a_column_that_is_not_categorical_is_refused(use_config, role):
    use_config(CHURN + f"""
        roles = {{ tenure = "{role}" }}
        encoding = {{ tenure = "onehot" }}
    """)
    with pytest.raises(ConfigError, match=rf"datasets\.churn\.encoding\.tenure: the column is declared {role}; "
                                          "only categorical columns are encoded"):
        load_config()


def test_a_role_on_the_target_is_refused(use_config):
    use_config(CHURN + """
        roles = { churned = "categorical" }
    """)
    with pytest.raises(ConfigError, match=r"datasets\.churn\.roles\.churned: the target column cannot have a role"):
        load_config()


# ---------------------------------------------------------------- a dataset's candidate models

MODELS = """
[models.logreg]
estimator = "sklearn.linear_model.LogisticRegression"

[models.forest]
estimator = "sklearn.ensemble.RandomForestClassifier"
grid = { max_depth = [2, 4] }

[models.tree]
estimator = "sklearn.tree.DecisionTreeClassifier"
cv_folds = 5
"""


def with_models(models: str, dataset: str = CHURN, extra: str = "") -> str:
    return textwrap.dedent(dataset) + f"models = {models}\n" + extra + MODELS


@pytest.mark.parametrize("models, message", [
    ('["logreg", "svm"]', r"datasets\.churn\.models: no model named 'svm' \(known: forest, logreg, tree\)"),
    ('["logreg", "logreg"]', r"datasets\.churn\.models: expected a list of distinct model names, "
                             r"got \['logreg', 'logreg'\]"),
    ("[]", r"datasets\.churn\.models: expected a list of distinct model names, got \[\]"),
    ('["logreg", 3]', r"datasets\.churn\.models: expected a list of distinct model names, got \['logreg', 3\]"),
    ('"logreg"', r"datasets\.churn\.models: expected a list, got 'logreg'"),
])
def test_a_datasets_models_must_name_distinct_known_models(use_config, models, message):
    use_config(with_models(models))
    with pytest.raises(ConfigError, match=message):
        load_config()


def test_several_models_on_a_clustering_dataset_are_refused(use_config):
    use_config(with_models('["logreg", "tree"]', dataset="""
        [datasets.shapes]
        source = "shapes.csv"
        problem = "clustering"
    """))
    with pytest.raises(ConfigError, match=r"datasets\.shapes\.models: choosing among models by cross-validation "
                                          "needs a classification or regression dataset; name one clustering model"):
        load_config()


def test_one_model_on_a_clustering_dataset_is_fine(use_config):
    use_config(with_models('["logreg"]', dataset="""
        [datasets.shapes]
        source = "shapes.csv"
        problem = "clustering"
    """))
    assert dataset_spec("shapes")["models"] == ["logreg"]


def test_a_candidate_fitted_on_all_rows_is_refused(use_config):
    use_config(with_models('["logreg", "all_rows"]', extra="""
[models.all_rows]
estimator = "sklearn.linear_model.LogisticRegression"
fit_on = "all"
"""))
    with pytest.raises(ConfigError, match=r"datasets\.churn\.models: all_rows has fit_on = \"all\"; candidates are "
                                          "compared by cross-validation on the training split"):
        load_config()


def test_candidates_with_differing_cv_folds_are_refused(use_config):
    use_config(with_models('["logreg", "tree", "three_fold"]', extra="""
[models.three_fold]
estimator = "sklearn.linear_model.LogisticRegression"
cv_folds = 3
"""))
    with pytest.raises(ConfigError, match=r"datasets\.churn\.models: the candidates' cv_folds differ \(\[3, 5\]\); "
                                          "they are compared on the same folds"):
        load_config()


def test_a_model_named_best_is_refused(use_config):
    path = use_config(GOOD + """
[models.best]
estimator = "sklearn.linear_model.LogisticRegression"
""")
    with pytest.raises(ConfigError) as refused:
        load_config()
    assert str(refused.value) == (f"{path}: models.best: the name 'best' is reserved for the best of a dataset's "
                                  "`models`; pick another")


def test_default_model_is_logreg_the_one_model_or_the_best_of_several(use_config):
    use_config(GOOD + """
[datasets.one]
source = "one.csv"
target = "y"
problem = "classification"
models = ["forest"]

[datasets.several]
source = "several.csv"
target = "y"
problem = "classification"
models = ["logreg", "forest", "tree"]
""" + MODELS.replace("[models.logreg]\nestimator = \"sklearn.linear_model.LogisticRegression\"\n", ""))
    assert settings.default_model("churn") == "logreg"
    assert settings.default_model("one") == "forest"
    assert settings.default_model("several") == "best"
    assert settings.deployments() == ["one", "several"]  # the datasets that name their models, in config order


def test_deployments_is_empty_when_no_dataset_names_its_models(use_config):
    use_config(GOOD)
    assert settings.deployments() == []


def test_selection_spec_holds_every_candidates_spec_and_their_folds(use_config):
    use_config(with_models('["logreg", "forest"]'))
    spec = settings.selection_spec("churn")
    assert spec == {
        "select": {
            "logreg": {"estimator": "sklearn.linear_model.LogisticRegression", "params": {}, "fit_on": "train"},
            "forest": {"estimator": "sklearn.ensemble.RandomForestClassifier", "grid": {"max_depth": [2, 4]},
                       "params": {}, "fit_on": "train", "cv_folds": 5},
        },
        "fit_on": "train", "cv_folds": 5, "params": {},
    }
    assert list(spec["select"]) == ["logreg", "forest"]  # in the dataset's order: ties go to the first


@pytest.mark.parametrize("models, count", [(None, 0), ('["logreg"]', 1)])
def test_selection_spec_needs_two_or_more_models(use_config, models, count):
    path = use_config(textwrap.dedent(CHURN) + MODELS if models is None else with_models(models))
    with pytest.raises(ConfigError) as refused:
        settings.selection_spec("churn")
    assert str(refused.value) == (f"{path}: datasets.churn.models names {count} model(s); --model best chooses "
                                  "among two or more")


def test_the_pipeline_section_is_read_again_only_when_it_or_the_command_line_changed(use_config):
    from luigi.cmdline_parser import CmdlineParser

    use_config(GOOD)
    config = luigi.configuration.get_config()
    first = settings.pipeline()
    assert settings.pipeline() is first  # nothing changed: not read again
    old = config.get("pipeline", "settle_seconds", None)
    config.set("pipeline", "settle_seconds", "5")
    try:
        assert settings.pipeline().settle_seconds == 5.0
        with CmdlineParser.global_instance(["--pipeline-settle-seconds", "7", "IngestData"]):
            assert settings.pipeline().settle_seconds == 7.0
        assert settings.pipeline().settle_seconds == 5.0
    finally:
        if old is None:
            config.remove_option("pipeline", "settle_seconds")
        else:
            config.set("pipeline", "settle_seconds", old)
    assert settings.pipeline().settle_seconds == first.settle_seconds
