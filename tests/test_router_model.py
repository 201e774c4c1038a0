"""The router `models:/<name>@champion` is with segment_column: each row is scored by its segment's pinned champion,
rows of other segments by the fallback, and it loads only the models of the segments it is asked about."""

from __future__ import annotations

import ast
import sys
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import tables
from pipeline_runs import MODEL, segmented_run

from ml_pipeline.data.schema import model_input
from ml_pipeline.registry.lookup import carried_schema
from ml_pipeline.scoring.rows import output_columns, scored_rows
from ml_pipeline.segments import router_model
from ml_pipeline.segments.router_model import Router

SETTINGS = {"target_column": "bought", "segment_column": "store", "segment_worker_slots": 1}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """One segmented run; store 00 has a third label, which the other stores' models never learn."""
    root = tmp_path_factory.mktemp("router")
    frame = tables.segmented(segments=3, rows=300)
    frame.loc[(frame["store"] == "store 00") & (frame["x3"] > 0.8), "bought"] = "maybe"
    frame.to_csv(root / "stores.csv", index=False)
    uri = f"sqlite:///{root}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    _, _, router = segmented_run(root, uri, "r1", root / "stores.csv", **SETTINGS)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    yield frame, router, model
    mlflow.set_tracking_uri(None)


def rows_of(frame: pd.DataFrame, schema) -> pd.DataFrame:
    return model_input(frame.drop(columns="bought"), schema)


def test_each_row_is_scored_by_its_segments_pinned_champion_and_the_rest_by_the_fallback(published):
    frame, _, model = published
    schema, estimator = carried_schema(model), model.get_raw_model()
    new = pd.concat([frame.head(60), frame.head(5).assign(store="a store never seen")], ignore_index=True)
    inputs = rows_of(new, schema)
    probabilities = estimator.predict_proba(inputs)
    names, versions = estimator.route(inputs)
    assert probabilities.shape == (len(new), 3) and np.allclose(probabilities.sum(axis=1), 1)
    for name, version in set(zip(names, versions, strict=True)):
        mine = (names == name) & (versions == version)
        own = mlflow.pyfunc.load_model(f"models:/{name}/{version}").get_raw_model()
        expected = np.zeros((mine.sum(), 3))
        for column, label in enumerate(schema.labels):
            if label in own.classes_.tolist():
                expected[:, column] = own.predict_proba(inputs[mine])[:, own.classes_.tolist().index(label)]
        assert np.allclose(probabilities[mine], expected), name
    unseen = (new["store"] == "a store never seen") | new["store"].isna()
    assert set(names[unseen.to_numpy()]) == {f"{MODEL}.all"}
    assert not (names[~unseen.to_numpy()] == f"{MODEL}.all").any()
    store_01 = (new["store"] == "store 01").to_numpy()
    assert (probabilities[store_01, schema.labels.index("maybe")] == 0).all(), "a label its model never learned"


def test_it_loads_only_the_segments_it_is_asked_about_and_at_most_its_cache(published):
    frame, _, model = published
    schema = carried_schema(model)
    table = model.get_raw_model()
    router = Router({"segment_column": table.segment_column, "fallback": table.fallback, "segments": table.segments,
                     "labels": table.classes_.tolist()})  # fmt: skip
    router.predict_proba(rows_of(frame[frame["store"] == "store 01"], schema))
    router.predict_proba(rows_of(frame[frame["store"] == "store 01"], schema))
    assert router.loads == 1
    small = Router({"segment_column": "store", "fallback": table.fallback, "segments": table.segments,
                    "labels": table.classes_.tolist()}, cache_models=1)  # fmt: skip
    for store in ("store 00", "store 01", "store 00"):
        small.predict_proba(rows_of(frame[frame["store"] == store], schema))
    assert small.loads == 3


def test_batch_output_says_which_segment_model_scored_each_row(published):
    frame, router, model = published
    schema = carried_schema(model)
    new = frame.head(20).drop(columns="bought")
    scored = scored_rows(new, model_input(new, schema), schema, model.get_raw_model(), MODEL, router["version"],
                         datetime.now(UTC))  # fmt: skip
    assert list(scored.columns) == [*new.columns, *output_columns(schema)]
    assert scored["segment_model"].str.startswith(f"{MODEL}.").all() and scored["model_version"].eq("1").all()
    through_pyfunc = model.predict(new)  # what MLflow's own serving would answer
    assert list(through_pyfunc.columns) == ["prediction", "segment_model", "segment_version"]
    assert (through_pyfunc["prediction"].to_numpy() == scored["prediction"].to_numpy()).all()


def test_the_router_ships_inside_the_model_and_needs_nothing_of_this_project():
    imported = set()
    for node in ast.walk(ast.parse(Path(router_model.__file__).read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"numpy", "pandas", "mlflow"}


def test_sagemaker_refuses_a_router_in_one_line(published, tmp_path):
    """SageMaker's package would lack the segments' models: it refuses before doing anything."""
    from ml_pipeline.config.model import PipelineConfig
    from ml_pipeline.deployment.package import package_model
    from ml_pipeline.errors import ConfigError
    from ml_pipeline.registry.lookup import pin
    from ml_pipeline.store.objects import Storage

    pinned = pin(PipelineConfig(mlflow_tracking_uri=mlflow.get_tracking_uri(), model_name=MODEL))
    with pytest.raises(ConfigError, match="is a router of one model per segment, .* serve it with the model server"):
        package_model(pinned, str(tmp_path / "store"), Storage())


def test_the_model_server_warms_a_router_up_before_serving_it(published):
    """Its warm-up rows carry the segment column (rows of no segment: the fallback answers), or it would never
    swap the router in."""
    from serving.loading import ServedModel, warm_up, warm_up_rows

    _, router, model = published
    served = ServedModel(MODEL, router["version"], model.get_raw_model(), carried_schema(model), 0.0)
    assert warm_up_rows(served.schema)["store"].isna().tolist() == [True, False]
    warm_up(served)  # ModelLoadError when it cannot answer
