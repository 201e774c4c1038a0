"""docs/configuration.md is generated from the configuration model (scripts/config_docs.py): it must be what the
generator makes now, and every setting must carry a description, which the trigger form shows too."""

from __future__ import annotations

import difflib

import config_docs  # scripts/ is on pytest's path
import pytest

from ml_pipeline.config.layers import ENV_NAMES
from ml_pipeline.config.model import PipelineConfig
from task_runtime.form import FORMS, form_fields


@pytest.mark.parametrize("name", PipelineConfig.model_fields)
def test_every_setting_has_a_short_description_that_reads_in_the_trigger_form(name):
    description = PipelineConfig.model_fields[name].description
    assert description, f"{name} has no description= in dags/ml_pipeline/config/model.py"
    # The form appends ". Left empty: ..." (task_runtime/form.py), and a table cell holds one line.
    assert not description.endswith("."), f"{name}: end the description without a full stop"
    assert "\n" not in description and len(description) <= 140, f"{name}: keep the description to one short line"


@pytest.mark.parametrize("form", FORMS)
def test_the_trigger_form_shows_the_models_description(form):
    for name, field in form_fields(form).items():
        assert field["description"].startswith(PipelineConfig.model_fields[name].description + ". Left empty")


def test_the_page_names_every_setting_and_its_environment_variable():
    page = config_docs.render()
    for name in PipelineConfig.model_fields:
        assert f"| `{name}` | `{ENV_NAMES[name]}` |" in page


def test_the_page_holds_no_path_of_this_machine():
    assert str(config_docs.REPO) not in config_docs.render()


def test_docs_configuration_md_is_what_the_generator_makes_now():
    expected = config_docs.render()
    actual = config_docs.OUTPUT.read_text() if config_docs.OUTPUT.exists() else ""
    if actual != expected:
        diff = difflib.unified_diff(
            actual.splitlines(), expected.splitlines(), "docs/configuration.md", "generated", lineterm="", n=1
        )
        shown = "\n".join(list(diff)[:40])
        pytest.fail(
            f"docs/configuration.md differs from what scripts/config_docs.py makes now; regenerate it with "
            f"`{config_docs.COMMAND}`\n{shown}"
        )


def test_check_mode_agrees(capsys):
    assert config_docs.main(["--check"]) == 0, capsys.readouterr().err
