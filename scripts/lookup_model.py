"""Look up a registered model (default `models:/wine-classifier@champion`) and predict rows from CSV or JSON.

This is what a downstream service does: resolve an alias in MLflow's registry, load that version, predict. The file
given as --input is read by lookup_input.py before the registry is contacted; its rows are then checked against the
schema the version carries, by batch scoring's rules.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "dags"))

from ml_pipeline.contract import CHAMPION_ALIAS, METRICS, TAG_DATA_HASH, TAG_GATE  # noqa: E402 (dags/ on the path)

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from ml_pipeline.data.schema import DatasetSchema


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from ml_pipeline.config.layers import load_config

    defaults = load_config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default=defaults.model_name, help="registered model name")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--alias", default=CHAMPION_ALIAS, help=f"registry alias to resolve (default: {CHAMPION_ALIAS})")
    which.add_argument("--version", help="a version number instead of an alias")
    parser.add_argument("--input", type=Path, help="rows to predict: a .csv with a header or a .json list of objects")
    parser.add_argument("--tracking-uri", default=defaults.mlflow_tracking_uri, help="default: MLFLOW_TRACKING_URI")
    return parser.parse_args(argv)


def look_up(args: argparse.Namespace) -> dict[str, Any]:
    """The input rows first (no registry call for a bad file), then the model's description and predictions."""
    from lookup_input import check_rows, read_rows
    from mlflow import MlflowClient

    from ml_pipeline.registry.connection import use_tracking_server
    from ml_pipeline.registry.lookup import load_version, resolve

    rows = read_rows(args.input) if args.input else None
    use_tracking_server(args.tracking_uri)
    client = MlflowClient()
    model_version = resolve(client, args.name, args.alias, args.version)
    result = describe(client, model_version)
    if rows is not None:
        model, schema = load_version(model_version.name, model_version.version)
        if schema is None:
            raise ValueError(f"{result['uri']} carries no data set schema; run classification_pipeline to register one")
        check_rows(args.input, rows, schema)
        result["predictions"] = predict(model, schema, rows)
    return result


def describe(client: MlflowClient, model_version: ModelVersion) -> dict[str, Any]:
    """What a person deciding whether to trust a version wants to see (`model_version` as `resolve` returns it)."""
    run = client.get_run(model_version.run_id) if model_version.run_id else None
    return {
        "name": model_version.name,
        "version": str(model_version.version),
        "aliases": list(model_version.aliases),
        "run_id": model_version.run_id,
        "metrics": {key: run.data.metrics[key] for key in METRICS if run and key in run.data.metrics},
        "data_hash": model_version.tags.get(TAG_DATA_HASH),
        "gate": model_version.tags.get(TAG_GATE),
        "uri": f"models:/{model_version.name}/{model_version.version}",
    }


def predict(model: Any, schema: DatasetSchema, rows: pd.DataFrame) -> list[Any]:
    """The version's predictions (its original labels), as plain JSON values."""
    from ml_pipeline.data.schema import model_input

    return [value.item() if hasattr(value, "item") else value for value in model.predict(model_input(rows, schema))]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from lookup_input import InputError
    from mlflow.exceptions import MlflowException  # imports mlflow, which sets up its loggers

    from ml_pipeline.registry.lookup import ModelNotFoundError

    try:
        with mlflow_warnings_only():
            result = look_up(args)
    except (InputError, ModelNotFoundError) as error:
        return fail(str(error))
    except MlflowException as error:
        return fail(f"{error}; check the tracking server at {args.tracking_uri}")
    except (ValueError, OSError) as error:
        return fail(f"{error}")
    print(json.dumps(result, indent=2))
    return 0


@contextmanager
def mlflow_warnings_only() -> Iterator[None]:
    """MLflow's INFO lines (e.g. creating the tables of a new SQLite store) would turn an error into several lines."""
    mlflow_log = logging.getLogger("mlflow")
    level = mlflow_log.level
    mlflow_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        mlflow_log.setLevel(level)


def fail(message: str) -> int:
    """One line on stderr, whatever the message held, and exit code 1."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
