"""Write docs/configuration.md from the configuration model, so that the page and the code cannot disagree.

    .venv/bin/python scripts/config_docs.py            # print the page
    .venv/bin/python scripts/config_docs.py --write    # write docs/configuration.md
    .venv/bin/python scripts/config_docs.py --check    # exit 1 when docs/configuration.md is out of date

The table comes from PipelineConfig (dags/ml_pipeline/config/model.py and its groups: names, types, ranges, defaults,
descriptions), ENV_NAMES (layers.py), OPERATOR_SETTINGS (model.py) and the trigger forms (dags/task_runtime/form.py);
the lists of classifiers from classifiers.py; the model server's settings from ServerSettings (serving/settings.py).
The prose around them is kept in PAGE. tests/test_docs_config.py fails when the file differs from what this prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "dags"))
sys.path.insert(0, str(REPO))
OUTPUT = REPO / "docs" / "configuration.md"
COMMAND = ".venv/bin/python scripts/config_docs.py --write"

from ml_pipeline.config.classifiers import CLASSIFIERS, DEFAULT_CANDIDATES  # noqa: E402 (dags/ on the path)
from ml_pipeline.config.layers import ENV_NAMES, JSON_FIELDS, VARIABLE_NAME  # noqa: E402
from ml_pipeline.config.model import OPERATOR_SETTINGS, PipelineConfig  # noqa: E402
from ml_pipeline.config.store import REPO_ROOT, SAFE_NAME  # noqa: E402
from serving.settings import ServerSettings  # noqa: E402
from task_runtime.form import CHOICES, FORMS  # noqa: E402

DAG_OF_FORM = {"training": "classification_pipeline", "scoring": "batch_predictions", "deployment": "deploy_champion"}
EXAMPLES = {
    "candidates_example": {"candidates": [
        {"classifier": "logistic_regression", "hyperparams": {"C": 0.1}},
        {"classifier": "random_forest", "name": "shallow_forest", "hyperparams": {"max_depth": 4}},
    ]},
    "single_example": {"classifier": "extra_trees", "hyperparams": {"n_estimators": 50}},
    "secret_example": {
        "mlflow_tracking_uri": "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/ml",
        "artifact_root": "s3://my-mwaa-bucket/ml-pipeline/artifacts",
    },
}  # fmt: skip
TYPES = {"string": "text", "number": "number", "integer": "whole number", "boolean": "`true` / `false`",
         "object": "JSON object"}  # fmt: skip

# The page, with {placeholders} that render() fills from the model; its prose is edited there.
PAGE = Path(__file__).with_name("config_docs_page.md")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return f"`{text.replace(str(REPO_ROOT), '<repo>')}`"


def _variant(schema: dict[str, Any]) -> dict[str, Any]:
    """The field's schema without its `null` alternative."""
    (variant,) = [item for item in schema.get("anyOf", [schema]) if item.get("type") != "null"]
    return {**schema, **variant}


def _bounds(schema: dict[str, Any]) -> str:
    low = ("<", schema["exclusiveMinimum"]) if "exclusiveMinimum" in schema else ("<=", schema.get("minimum"))
    high = ("<", schema["exclusiveMaximum"]) if "exclusiveMaximum" in schema else ("<=", schema.get("maximum"))
    if low[1] is not None and high[1] is not None:
        return f"{low[1]} {low[0]} x {high[0]} {high[1]}"
    if low[1] is not None:
        return f"x {low[0].replace('<', '>')} {low[1]}"
    if high[1] is not None:
        return f"x {high[0]} {high[1]}"
    return ""


def type_and_range(name: str, schema: dict[str, Any]) -> str:
    """`number, 0 < x < 1`; `one of `a`, `b``; `list of candidates` ..."""
    schema = _variant(schema)
    kind = schema["type"]
    if kind == "array":
        items = schema["items"]
        described = "list of candidates" if "$ref" in items else f"list of {TYPES[items['type']]}s"
        if name == "run_conf_may_set":
            described = "list of operator settings' names"
        return described
    parts = [TYPES[kind]]
    choices = CHOICES.get(name, schema.get("enum"))
    if choices:
        parts.append("one of " + ", ".join(_code(choice) for choice in choices))
    if bounds := _bounds(schema):
        parts.append(bounds)
    if schema.get("minLength") == 1:
        parts.append("not empty")
    if "pattern" in schema:
        parts.append(f"matches `{schema['pattern']}`")
    return ", ".join(parts)


def default(name: str) -> str:
    value = PipelineConfig.model_fields[name].get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    return _code(value)


def who_sets(name: str) -> str:
    if name in OPERATOR_SETTINGS:
        return "no (operator)"
    forms = [f"{DAG_OF_FORM[form]} form, {section}" for form, sections in FORMS.items()
             for section, names in sections.items() if name in names]  # fmt: skip
    return "; ".join(["yes", *forms])


def table() -> str:
    schema = PipelineConfig.model_json_schema()["properties"]
    rows = [
        "| key | environment variable | type | default | run conf | description |",
        "|---|---|---|---|---|---|",
    ]
    for name, field in PipelineConfig.model_fields.items():
        cells = [f"`{name}`", f"`{ENV_NAMES[name]}`", type_and_range(name, schema[name]), default(name),
                 who_sets(name), field.description or ""]  # fmt: skip
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(rows)


def server_table() -> str:
    schema = ServerSettings.model_json_schema()["properties"]
    rows = ["| environment variable | type | default | description |", "|---|---|---|---|"]
    for name, field in ServerSettings.model_fields.items():
        value = field.get_default()
        cells = [f"`MODEL_SERVER_{name.upper()}`", type_and_range(name, schema[name]),
                 _code(value) if value != "" else "empty", field.description or ""]  # fmt: skip
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(rows)


def render() -> str:
    """The whole of docs/configuration.md."""
    classifiers = "\n".join(
        f"- `{name}`: `{spec.estimator}`" + (f", {_code(spec.defaults)}" if spec.defaults else "")
        for name, spec in CLASSIFIERS.items()
    )
    defaults = "\n".join(f"- {_code(candidate)}" for candidate in DEFAULT_CANDIDATES)
    return PAGE.read_text().format(
        command=COMMAND,
        variable=VARIABLE_NAME,
        json_fields=", ".join(f"`{name}`" for name in JSON_FIELDS),
        table=table(),
        operator_settings=", ".join(f"`{name}`" for name in PipelineConfig.model_fields if name in OPERATOR_SETTINGS),
        safe_name=SAFE_NAME.pattern,
        classifiers=classifiers,
        default_candidates=defaults,
        server_table=server_table(),
        **{name: json.dumps(example) for name, example in EXAMPLES.items()},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"write {OUTPUT.relative_to(REPO)}")
    action.add_argument("--check", action="store_true", help=f"exit 1 when {OUTPUT.relative_to(REPO)} is out of date")
    args = parser.parse_args(argv)
    page = render()
    if args.write:
        OUTPUT.write_text(page)
    elif args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != page:
            print(f"{OUTPUT.relative_to(REPO)} is out of date; regenerate it: {COMMAND}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
