"""The champion gate, as a specification: what `models:/wine-classifier@champion` can become, and what it cannot.

Every test runs the real task functions against a throwaway MLflow store and artifact store.
"""

import multiprocessing

import mlflow
import pytest
from mlflow import MlflowClient
from pipeline_runs import MODEL, WEAK, alias, holdout_of, publish, tags, train

from ml_pipeline.contract import CHALLENGER_ALIAS, CHAMPION_ALIAS, TAG_GATE, TAG_HOLDOUT, RunIds
from ml_pipeline.errors import DataValidationError, ModelLoadError, is_transient
from ml_pipeline.registry import gate as gate_module
from ml_pipeline.registry.connection import connect
from ml_pipeline.registry.gate import gate, score, score_candidate
from ml_pipeline.registry.registration import register
from ml_pipeline.registry.run_log import RunResults
from ml_pipeline.store.objects import Storage


def test_the_first_version_becomes_champion(tmp_path, tracking_uri):
    result = publish(tmp_path, tracking_uri, "run-1")
    assert (result["version"], result["alias"], result["promoted"], result["reason"]) == ("1", CHAMPION_ALIAS, True,
                                                                                         "no champion yet")  # fmt: skip
    assert alias(CHAMPION_ALIAS) == "1" and tags("1")[TAG_GATE] == "champion: no champion yet"


def test_the_candidate_is_scored_as_registered_not_by_what_training_reported(tmp_path, tracking_uri):
    publish(tmp_path, tracking_uri, "good")
    dataset, training = train(tmp_path, "weak", **WEAK)
    claims = training["metrics"] | {"accuracy": 1.0, "f1_macro": 1.0}  # what a buggy or stale training claims
    result = publish(tmp_path, tracking_uri, "weak", trained=(dataset, training | {"metrics": claims}))
    holdout = holdout_of(dataset)
    as_registered = score(MODEL, "2", holdout)
    assert result["metrics"] == as_registered and as_registered["f1_macro"] < 0.9
    assert {name: float(tags("2")[TAG_HOLDOUT + name]) for name in as_registered} == pytest.approx(as_registered)
    assert result["alias"] == CHALLENGER_ALIAS and alias(CHAMPION_ALIAS) == "1"


def test_a_better_version_takes_champion_and_a_worse_one_becomes_challenger(tmp_path, tracking_uri):
    publish(tmp_path, tracking_uri, "weak", **WEAK)
    better = publish(tmp_path, tracking_uri, "good")
    assert better["promoted"] and better["previous_champion"] == "1" and better["champion_score"] < 0.9
    assert better["reason"].startswith("f1_macro 1.0000 > champion v1's")
    worse = publish(tmp_path, tracking_uri, "weak-again", **WEAK | {"hyperparams": {"n_estimators": 2, "max_depth": 1}})
    assert worse["alias"] == CHALLENGER_ALIAS and not worse["promoted"]
    assert (alias(CHAMPION_ALIAS), alias(CHALLENGER_ALIAS)) == ("2", "3")
    assert tags("3")[TAG_GATE].startswith("challenger: f1_macro") and "< champion v2's 1.0000" in tags("3")[TAG_GATE]


def test_on_a_tie_the_newer_version_wins_and_an_older_one_never_takes_champion_back(tmp_path, tracking_uri):
    trained = train(tmp_path, "run-1")
    publish(tmp_path, tracking_uri, "run-1", trained=trained)
    newer = publish(tmp_path, tracking_uri, "run-2")
    assert newer["promoted"] and "= (and newer than) champion v1's" in newer["reason"]
    rerun = publish(tmp_path, tracking_uri, "run-1", trained=trained)  # rerunning the old DAG run
    assert rerun["version"] == "1" and rerun["reused"] and not rerun["promoted"]
    assert "= (but older than) champion v2's" in rerun["reason"]
    assert alias(CHAMPION_ALIAS) == "2"


def test_a_rerun_with_other_settings_registers_and_gates_a_new_version_and_never_relabels_the_old_one(
    tmp_path, tracking_uri
):
    publish(tmp_path, tracking_uri, "manual__1")
    first_decision = tags("1")[TAG_GATE]
    rerun = publish(tmp_path, tracking_uri, "manual__1", **WEAK)  # same DAG run, a changed Variable or conf
    assert rerun["version"] == "2" and not rerun["reused"]
    assert rerun["metrics"]["f1_macro"] < 0.9 and not rerun["promoted"]
    assert alias(CHAMPION_ALIAS) == "1" and tags("1")[TAG_GATE] == first_decision


def test_data_that_cannot_give_an_honest_score_never_reaches_the_registry(tmp_path, tracking_uri, wine_frame):
    publish(tmp_path, tracking_uri, "good")
    few_rows_repeated = wine_frame.groupby("target").head(4).sample(frac=1, random_state=0)
    (tmp_path / "repeated.csv").write_text(
        few_rows_repeated.loc[few_rows_repeated.index.repeat(20)].to_csv(index=False)
    )
    with pytest.raises(DataValidationError, match="distinct rows"):
        publish(tmp_path, tracking_uri, "repeated", source=str(tmp_path / "repeated.csv"))
    assert alias(CHAMPION_ALIAS) == "1" and len(MlflowClient().search_model_versions(f"name = '{MODEL}'")) == 1


def test_promotion_clears_a_challenger_that_pointed_at_the_promoted_version(tmp_path, tracking_uri):
    publish(tmp_path, tracking_uri, "good")
    trained = train(tmp_path, "weak", **WEAK)
    publish(tmp_path, tracking_uri, "weak", trained=trained)
    assert alias(CHALLENGER_ALIAS) == "2"
    MlflowClient().delete_registered_model_alias(MODEL, CHAMPION_ALIAS)  # an operator retires the champion
    rerun = publish(tmp_path, tracking_uri, "weak", trained=trained)
    assert rerun["promoted"] and alias(CHAMPION_ALIAS) == "2" and alias(CHALLENGER_ALIAS) is None


def test_challenger_never_moves_back_to_an_older_version(tmp_path, tracking_uri):
    publish(tmp_path, tracking_uri, "good")
    trained = train(tmp_path, "weak-1", **WEAK)
    publish(tmp_path, tracking_uri, "weak-1", trained=trained)
    publish(tmp_path, tracking_uri, "weak-2", **WEAK | {"hyperparams": {"n_estimators": 2, "max_depth": 1}})
    assert alias(CHALLENGER_ALIAS) == "3"
    publish(tmp_path, tracking_uri, "weak-1", trained=trained)
    assert (alias(CHAMPION_ALIAS), alias(CHALLENGER_ALIAS)) == ("1", "3")


def test_the_decision_is_tagged_before_any_alias_moves(tmp_path, tracking_uri, monkeypatch):
    publish(tmp_path, tracking_uri, "weak", **WEAK)
    real_set_tag = MlflowClient.set_model_version_tag

    def failing_decision_tag(self, name, version, key, value):
        if key == TAG_GATE:
            raise ConnectionResetError("connection reset while writing the decision")
        return real_set_tag(self, name, version, key, value)

    monkeypatch.setattr(MlflowClient, "set_model_version_tag", failing_decision_tag)
    with pytest.raises(Exception, match="connection reset") as raised:
        publish(tmp_path, tracking_uri, "good")
    assert is_transient(raised.value), "a dropped connection is retried"
    assert alias(CHAMPION_ALIAS) == "1", "the better model must not be champion before its decision is recorded"
    monkeypatch.undo()
    retry = publish(tmp_path, tracking_uri, "good")
    assert retry["reused"] and retry["promoted"] and alias(CHAMPION_ALIAS) == "2"


def test_compare_and_set_gates_again_when_the_champion_moved_while_gating(tmp_path, tracking_uri, monkeypatch):
    publish(tmp_path, tracking_uri, "run-a")
    storage, client = Storage(), MlflowClient()
    dataset, training = train(tmp_path, "run-c")
    holdout = holdout_of(dataset)
    candidate, _ = register(
        storage, client, experiment_id=connect(tracking_uri, "classification_pipeline"), model_name=MODEL,
        run=RunIds("classification_pipeline", "run-c"), results=RunResults(dataset, [training], {}, holdout),
    )  # fmt: skip
    publish(tmp_path, tracking_uri, "run-d")  # registered after run-c, promoted while run-c is still gating
    assert (candidate.version, alias(CHAMPION_ALIAS)) == (2, "3")

    stale = client.get_model_version(MODEL, "1")
    real = gate_module.alias_version
    reads = []

    def champion_read_before_run_d_promoted(client, name, which):
        reads.append(which)
        return stale if which == CHAMPION_ALIAS and reads.count(CHAMPION_ALIAS) == 1 else real(client, name, which)

    monkeypatch.setattr(gate_module, "alias_version", champion_read_before_run_d_promoted)
    metrics = score_candidate(client, MODEL, candidate, holdout)
    decision = gate(client, MODEL, candidate, metrics, holdout, "f1_macro")
    assert reads.count(CHAMPION_ALIAS) >= 3, "read, re-read before moving, then re-gated against the new champion"
    assert decision.alias == CHALLENGER_ALIAS and "champion v3" in decision.reason
    assert alias(CHAMPION_ALIAS) == "3", "an older version never takes champion from a newer one on a tie"


def test_a_champion_that_cannot_be_scored_is_not_replaced_automatically(tmp_path, tracking_uri, monkeypatch):
    publish(tmp_path, tracking_uri, "first")
    real_scored = gate_module.scored

    def champion_that_cannot_be_loaded(model_name, version, holdout):
        if str(version) == "1":
            raise ModelLoadError("model.skops is truncated")
        return real_scored(model_name, version, holdout)

    monkeypatch.setattr(gate_module, "scored", champion_that_cannot_be_loaded)
    second = publish(tmp_path, tracking_uri, "second")
    assert second["alias"] == CHALLENGER_ALIAS and "could not be scored on this holdout" in second["reason"]
    assert alias(CHAMPION_ALIAS) == "1"


def test_a_candidate_that_cannot_be_loaded_from_the_registry_fails_at_once_and_moves_nothing(
    tmp_path, tracking_uri, monkeypatch
):
    publish(tmp_path, tracking_uri, "first")

    def unloadable(uri):
        raise OSError("artifact store unavailable: model.skops is truncated")

    monkeypatch.setattr(mlflow.pyfunc, "load_model", unloadable)
    with pytest.raises(ModelLoadError, match="wine-classifier v2 cannot be loaded from the registry") as raised:
        publish(tmp_path, tracking_uri, "second")
    assert not is_transient(raised.value)
    assert alias(CHAMPION_ALIAS) == "1" and TAG_GATE not in tags("2")


def _publish_in_a_process(root, tracking_uri, run_id, settings, barrier):
    """One run in its own process, held at the registry lock until every run has registered its version."""
    from ml_pipeline.registry import publish as persist_module

    real_lock = persist_module.registry_lock

    def lock_once_all_are_ready(*args, **kwargs):
        barrier.wait(timeout=120)
        return real_lock(*args, **kwargs)

    persist_module.registry_lock = lock_once_all_are_ready
    publish(root, tracking_uri, run_id, **settings)


@pytest.mark.parametrize("store", ["local", "s3"])
def test_runs_that_finish_at_once_end_with_the_best_newest_version_as_champion(
    tmp_path, tracking_uri, store, s3_client
):
    root = str(tmp_path / "artifacts")
    if store == "s3":
        s3_client.create_bucket(Bucket="artifacts")
        root = "s3://artifacts/pipeline"
    publish(root, tracking_uri, "weak-champion", **WEAK)
    settings = {"run-a": {}, "run-b": WEAK | {"hyperparams": {"n_estimators": 2, "max_depth": 1}}, "run-c": {}}
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(len(settings))
    processes = [
        spawn.Process(target=_publish_in_a_process, args=(root, tracking_uri, run_id, extra, barrier))
        for run_id, extra in settings.items()
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert [process.exitcode for process in processes] == [0, 0, 0]

    client = MlflowClient()
    by_run = {v.tags["airflow_run_id"]: str(v.version) for v in client.search_model_versions(f"name = '{MODEL}'")}
    best = max(int(by_run["run-a"]), int(by_run["run-c"]))
    assert alias(CHAMPION_ALIAS) == str(best), "the best model wins, and the newer one on a tie"
    assert all(tags(version)[TAG_GATE] for version in by_run.values()), "every version's decision is recorded"


def test_the_registry_says_what_each_version_is_how_it_scored_and_why_it_is_champion_or_not(tmp_path, tracking_uri):
    publish(tmp_path, tracking_uri, "good")
    publish(tmp_path, tracking_uri, "weak", **WEAK)
    client = MlflowClient()
    champion, challenger = client.get_model_version(MODEL, "1"), client.get_model_version(MODEL, "2")
    assert champion.description.startswith(
        "logistic_regression trained by Airflow DAG classification_pipeline, run good"
    )
    assert (
        "Holdout (this version loaded back from the registry): accuracy 1.0000, balanced_accuracy 1.0000, "
        "f1_macro 1.0000, roc_auc 1.0000, log_loss 0.0" in champion.description
    )
    assert champion.description.endswith("Gate: champion, because no champion yet.")
    assert f"Gate: challenger, because {tags('2')[TAG_GATE].removeprefix('challenger: ')}." in challenger.description
    assert "@champion" in client.get_registered_model(MODEL).description


def wine_source(tmp_path, name, change):
    from sklearn.datasets import load_wine

    path = tmp_path / f"{name}.csv"
    change(load_wine(as_frame=True).frame).to_csv(path, index=False)
    return str(path)


def test_a_champion_that_cannot_read_the_new_schema_stays_until_allow_schema_change_promotes(tmp_path, tracking_uri):
    publish(tmp_path, tracking_uri, "wine")
    fewer = wine_source(tmp_path, "fewer", lambda frame: frame.drop(columns=["hue"]))
    held = publish(tmp_path, tracking_uri, "fewer", source=fewer)
    assert (held["alias"], alias(CHAMPION_ALIAS)) == (CHALLENGER_ALIAS, "1")
    assert "the data's schema changed (hue removed)" in held["reason"] and "set allow_schema_change" in held["reason"]
    allowed = publish(tmp_path, tracking_uri, "allowed", source=fewer, settings={"allow_schema_change": True})
    assert allowed["promoted"] and alias(CHAMPION_ALIAS) == allowed["version"] == "3"


def test_a_champion_that_can_read_the_new_data_is_compared_as_usual_and_the_change_is_named(tmp_path, tracking_uri):
    publish(tmp_path, tracking_uri, "wine")
    wider = wine_source(tmp_path, "wider", lambda frame: frame.assign(vintage=2000 + frame.index % 7))
    result = publish(tmp_path, tracking_uri, "wider", source=wider)
    assert result["champion_score"] is not None and "(schema changed: columns added: vintage)" in result["reason"]
