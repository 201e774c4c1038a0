"""What the tasks hand each other is declared once, in ml_pipeline.contract, and what they return matches it."""

import typing

import pytest
from pipeline_runs import candidate, publish, train
from pydantic import TypeAdapter, ValidationError

from ml_pipeline.contract import Candidate, DatasetSnapshot, PersistResult, TrainingResult


def conforms(kind, value):
    """Strictly: every declared key present with its declared type, and nothing undeclared."""
    keys = set(typing.get_type_hints(kind))
    assert set(value) == keys, f"{kind.__name__}: extra {set(value) - keys}, missing {keys - set(value)}"
    TypeAdapter(kind).validate_python(value, strict=True)


def test_each_tasks_output_is_exactly_its_declared_type(tmp_path):
    dataset, training = train(tmp_path / "artifacts", "run-1")
    conforms(DatasetSnapshot, dataset)
    conforms(TrainingResult, training)
    result = publish(tmp_path / "artifacts", f"sqlite:///{tmp_path}/mlflow.db", "run-1", trained=(dataset, training))
    conforms(PersistResult, result)
    conforms(Candidate, candidate("random_forest", {"max_depth": 3}))


def test_a_value_that_breaks_the_contract_is_caught():
    with pytest.raises(ValidationError):
        TypeAdapter(TrainingResult).validate_python({"candidate": "x", "metrics": {"f1_macro": "high"}}, strict=True)
