"""The Airflow trigger form's fields, made from the configuration model so that the form and the checks agree.

Every field also accepts null and starts empty: a setting left empty is not sent as a value (see `load_config`), so
the Airflow Variable, the environment or the default still decide it, as documented.
"""

from __future__ import annotations

import json
from typing import Any

from ml_pipeline.config.classifiers import CLASSIFIERS
from ml_pipeline.config.model import PipelineConfig

TRAINING_FORM = {
    "Candidates": ("classifier", "hyperparams", "candidates"),
    "Your data": (
        "source_uri",
        "target_column",
        "feature_columns",
        "exclude_columns",
        "categorical_columns",
        "csv_encoding",
    ),
    "Data checks": (
        "test_size",
        "random_seed",
        "min_rows",
        "max_holdout_overlap",
        "max_missing_fraction",
        "max_unlabeled_fraction",
        "max_training_rows",
    ),
    "Segments": ("segment_column", "min_segment_rows", "max_segments", "segment_worker_slots", "segment_engine"),
    "Champion gate": ("gate_metric", "allow_schema_change", "require_approval", "approval_timeout_hours"),
}
SCORING_FORM = {
    "Model": ("model_version",),
    "Data": ("scoring_source_uri", "csv_encoding", "max_rejected_fraction"),
    "Engine": ("scoring_engine", "log_scoring_to_mlflow"),
    "Drift": ("drift_psi_threshold", "drift_missing_threshold", "drift_unseen_threshold"),
    "Live quality": ("label_source_uri", "id_column", "quality_window_days", "decay_margin", "min_labeled_rows"),
}
DEPLOYMENT_FORM: dict[str, tuple[str, ...]] = {"Model": ("model_version",)}
FORMS = {"training": TRAINING_FORM, "scoring": SCORING_FORM, "deployment": DEPLOYMENT_FORM}
# Checked by the model when a task runs; the form offers them as choices too.
CHOICES = {"classifier": list(CLASSIFIERS)}


def _inline(schema: Any, definitions: dict[str, Any]) -> Any:
    """The schema with `$ref`s replaced by their definitions: each form field stands alone."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions)
        return {key: _inline(value, definitions) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_inline(item, definitions) for item in schema]
    return schema


def _field(name: str, schema: dict[str, Any], section: str) -> dict[str, Any]:
    default = schema.pop("default", None)
    (value,) = [variant for variant in schema.pop("anyOf", [schema]) if variant.get("type") != "null"]
    field = {key: item for key, item in schema.items() if key != "type"} | value
    field["type"] = [value["type"], "null"]
    if name in CHOICES:
        field["enum"] = CHOICES[name]
    if "enum" in field:
        field["enum"] = [*field["enum"], None]
        field["values_display"] = {"null": "(not set)"}
    field["title"] = name
    fallback = json.dumps(default) if default not in (None, "") else "the default above"
    field["description"] = (
        f"{field['description']}. Left empty: the Airflow Variable's or environment's, else {fallback}."
    )
    field["section"] = section
    return field


def form_fields(form: str) -> dict[str, dict[str, Any]]:
    """JSON schema of each setting on the form (`FORMS`), keyed by the configuration's own names."""
    sections = FORMS[form]
    schema = PipelineConfig.model_json_schema()
    properties = _inline(schema["properties"], schema.get("$defs", {}))
    return {
        name: _field(name, dict(properties[name]), section) for section, names in sections.items() for name in names
    }
