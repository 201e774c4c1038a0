"""Look up a registered model (default `models:/wine-classifier@champion`) and predict rows from CSV or JSON.

This is what a downstream service does: resolve an alias in MLflow's registry, load that version, predict.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "dags"))


def main(argv: list[str] | None = None) -> int:
    from ml_pipeline.config import load_config

    defaults = load_config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default=defaults.model_name, help="registered model name")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--alias", default="champion", help="registry alias to resolve (default: champion)")
    which.add_argument("--version", help="a version number instead of an alias")
    parser.add_argument("--input", type=Path, help="rows to predict: a .csv with a header or a .json list of objects")
    parser.add_argument("--tracking-uri", default=defaults.mlflow_tracking_uri, help="default: MLFLOW_TRACKING_URI")
    args = parser.parse_args(argv)

    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from ml_pipeline.lookup import ModelNotFoundError, describe, predict, read_rows, resolve
    from ml_pipeline.registry import use_tracking_server

    use_tracking_server(args.tracking_uri)
    client = MlflowClient()
    try:
        model_version = resolve(client, args.name, args.alias, args.version)
        rows = read_rows(args.input) if args.input else None
    except (ModelNotFoundError, MlflowException, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    result = describe(client, model_version)
    if rows is not None:
        result["predictions"] = predict(model_version, rows)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
