"""docker/airflow/check_pins.py: the image build fails when an installed distribution is not the one pinned."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

CHECK_PINS = Path(__file__).resolve().parent.parent / "docker" / "airflow" / "check_pins.py"
CONSTRAINTS = "# Airflow's constraints\n--index-url https://pypi.org/simple\nFoo_Bar==1.0\nmlflow==3.17.2  # why\n"


def check(tmp_path, monkeypatch, installed: dict[str, str]) -> int:
    """check_pins.main over CONSTRAINTS with `installed` ({name: version}) as the environment's distributions."""
    spec = importlib.util.spec_from_file_location("check_pins", CHECK_PINS)  # docker/ is not on the path
    check_pins = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_pins)
    dists = [SimpleNamespace(metadata={"Name": name}, version=version) for name, version in installed.items()]
    monkeypatch.setattr(check_pins, "distributions", lambda: dists)
    (tmp_path / "constraints.txt").write_text(CONSTRAINTS)
    return check_pins.main(str(tmp_path / "constraints.txt"))


@pytest.mark.parametrize("name", ["foo-bar", "Foo.Bar", "foo_bar"])
def test_pins_match_whatever_spelling_of_the_name_is_installed(tmp_path, monkeypatch, capsys, name):
    assert check(tmp_path, monkeypatch, {name: "1.0", "mlflow": "3.17.2", "unpinned": "9"}) == 0
    assert capsys.readouterr().out.startswith("2 installed distributions checked against ")


def test_a_version_other_than_the_pin_fails_and_says_which(tmp_path, monkeypatch, capsys):
    assert check(tmp_path, monkeypatch, {"foo-bar": "1.1", "mlflow": "3.17.2"}) == 1
    out, err = capsys.readouterr()
    assert err == "foo-bar: installed 1.1, pinned 1.0\n" and out.endswith(": 1 differ\n")
