"""One model per segment, in the registry: each segment's champion is gated on its own holdout and moves on its own,
a retry registers nothing twice, and `<name>@champion` is a router that earned its place like any version.

The data: stores whose label follows a rule of their own (tables.segmented), so a model per store beats one model of
all stores; each test gets a throwaway MLflow store (pipeline_runs.tracking_uri)."""

from __future__ import annotations

import mlflow
import pandas as pd
import tables
from mlflow import MlflowClient
from pipeline_runs import MODEL, WEAK, holdout_of, publish, segmented_run, train

from ml_pipeline.registry.gate import first_version
from ml_pipeline.segments.plan import segment_model_name, slug

SETTINGS = {"target_column": "bought", "segment_column": "store", "segment_worker_slots": 1}
GOOD = [{"classifier": "logistic_regression"}]


def write(tmp_path, frame: pd.DataFrame, name: str = "stores.csv") -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def champion(name: str) -> str | None:
    try:
        return str(MlflowClient().get_model_version_by_alias(name, "champion").version)
    except mlflow.exceptions.MlflowException:
        return None


def versions() -> dict[str, list[str]]:
    """Every registered model's versions."""
    found: dict[str, list[str]] = {}
    for version in MlflowClient().search_model_versions(max_results=10_000):
        found.setdefault(version.name, []).append(str(version.version))
    return found


def store(number: int) -> str:
    return segment_model_name(MODEL, slug(f"store {number:02d}"))


def test_the_router_beats_one_model_and_a_retry_registers_nothing_twice(tmp_path, tracking_uri):
    source = write(tmp_path, tables.segmented(segments=4, rows=300))
    _, groups, router = segmented_run(tmp_path, tracking_uri, "r1", source, candidates=GOOD, **SETTINGS)
    assert sum(group["promoted"] for group in groups) == 4
    assert router["promoted"] and router["segments_routed"] == 4 and router["fallback"] == f"{MODEL}.all v1"
    fallback = MlflowClient().get_model_version(f"{MODEL}.all", "1").tags
    assert router["metrics"]["f1_macro"] > float(fallback["holdout.f1_macro"]) + 0.2
    registered = versions()
    assert set(registered) == {MODEL, f"{MODEL}.all", *(store(number) for number in range(4))}

    _, groups, again = segmented_run(tmp_path, tracking_uri, "r1", source, candidates=GOOD, **SETTINGS)
    assert versions() == registered, "a retry of the same DAG run reuses every version"
    assert again["reused"] and again["version"] == router["version"] and again["promoted"]
    assert again["reason"].startswith("already champion")
    run = MlflowClient().get_model_version(MODEL, router["version"]).run_id
    assert MlflowClient().get_run(run).data.metrics == router["metrics"], "the router's run shows its holdout scores"
    assert len(MlflowClient().get_metric_history(run, "f1_macro")) == 1, "once, whatever the retries"
    segment = MlflowClient().get_registered_model(store(0))
    assert segment.tags == {"segment_of": MODEL, "segment_column": "store", "segment_value": "store 00"}


def test_a_segment_is_replaced_only_by_a_better_model_and_the_others_stay(tmp_path, tracking_uri):
    frame = tables.segmented(segments=4, rows=300)
    segmented_run(tmp_path, tracking_uri, "r1", write(tmp_path, frame), candidates=GOOD, **SETTINGS)
    before = {number: champion(store(number)) for number in range(4)}
    # Store 02's customers now do the opposite: its champion is wrong about them, and even a weak model trained on
    # the new rows beats it; the other stores' weak models lose to their champions.
    changed = frame.assign(bought=frame["bought"].where(frame["store"] != "store 02", frame["bought"].map(
        {"yes": "no", "no": "yes"})))  # fmt: skip
    _, groups, router = segmented_run(
        tmp_path, tracking_uri, "r2", write(tmp_path, changed, "changed.csv"), candidates=[WEAK], **SETTINGS
    )
    after = {number: champion(store(number)) for number in range(4)}
    assert after[2] == "2" and {number: after[number] for number in (0, 1, 3)} == {0: "1", 1: "1", 3: "1"}
    assert before == dict.fromkeys(range(4), "1")
    assert sum(group["promoted"] for group in groups) == 1 and sum(group["kept"] for group in groups) == 3
    challenger = MlflowClient().get_model_version_by_alias(store(0), "challenger")
    assert str(challenger.version) == "2" and challenger.tags["gate"].startswith("challenger: f1_macro")
    assert router["promoted"] and router["version"] == "2", router["reason"]


def test_segments_missing_from_todays_data_keep_their_champion_in_the_router(tmp_path, tracking_uri):
    frame = tables.segmented(segments=4, rows=300)
    segmented_run(tmp_path, tracking_uri, "r1", write(tmp_path, frame), candidates=GOOD, **SETTINGS)
    fewer = write(tmp_path, frame[frame["store"] != "store 03"], "fewer.csv")
    _, _, router = segmented_run(tmp_path, tracking_uri, "r2", fewer, candidates=GOOD, **SETTINGS)
    assert router["segments_routed"] == 4
    table = mlflow.artifacts.load_dict(f"{router['routing_uri']}")
    assert table["segments"]["store 03"] == {"model": store(3), "version": "1", "location": table["segments"][
        "store 03"]["location"]}  # fmt: skip


def test_a_segments_first_model_must_beat_the_fallback_on_the_segments_rows(tmp_path, tracking_uri):
    """Until a segment has a champion the fallback serves it: a first model that scores worse would serve it worse."""
    trained = train(tmp_path, "r1")
    fallback = MlflowClient().get_model_version(
        MODEL, publish(tmp_path, tracking_uri, "r1", trained=trained)["version"]
    )
    holdout, score = holdout_of(trained[0]), trained[1]["metrics"]["f1_macro"]
    worse = first_version(score - 0.1, fallback, holdout, "f1_macro")
    assert worse.alias == "challenger" and worse.champion_score == score
    assert (
        worse.reason
        == f"f1_macro {score - 0.1:.4f} < fallback {MODEL} v1's {score:.4f} on this holdout: it serves it better"
    )
    assert first_version(score, fallback, holdout, "f1_macro").alias == "champion", "a tie goes to the segment's own"
    assert first_version(0.0, None, holdout, "f1_macro").reason == "no champion yet"
