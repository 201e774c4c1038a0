"""Which files ship (git-tracked minus .mwaaignore) and the objects built from them (plugins.zip, the job script)."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

import pytest
from deploy_fakes import EXPECTED_DAG_KEYS, REPO_ROOT, SPARK_JOB, add_spark_job, git, track, write

from deploy.aws import DeployError
from deploy.bundle import SPARK_JOB_MODULES, SPARK_JOB_SCRIPT, build_zip, collect_artifacts
from deploy.files import RepoFiles
from ml_pipeline.scoring.spark import job_modules


def test_caches_tests_and_local_stores_are_never_collected(fake_repo):
    collected = {relative for relative, _ in RepoFiles.read(fake_repo).under("dags")}
    assert collected == {k.removeprefix("dags/") for k in EXPECTED_DAG_KEYS}


def test_plugins_zip_is_deterministic_rooted_and_755(fake_repo, tmp_path):
    first = build_zip(RepoFiles.read(fake_repo).under("plugins"))
    # Other modification times (a fresh clone, a touched file) must give the same bytes.
    for number, path in enumerate(sorted((fake_repo / "plugins").rglob("*"))):
        os.utime(path, (1_000_000_000 + number, 1_000_000_000 + number))
    second = build_zip(RepoFiles.read(fake_repo).under("plugins"))
    assert first is not None and first == second
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()

    archive = zipfile.ZipFile(io.BytesIO(first))
    names = archive.namelist()
    assert "ml_plugin/__init__.py" in names and "ml_plugin/macros.py" in names
    assert not any(name.startswith("plugins/") for name in names), "no wrapping folder"
    assert not any("__pycache__" in name for name in names)
    for info in archive.infolist():
        assert (info.external_attr >> 16) & 0o777 == 0o755, info.filename
    extracted = tmp_path / "extracted"
    archive.extractall(extracted)
    assert (extracted / "ml_plugin" / "macros.py").read_bytes() == (
        fake_repo / "plugins/ml_plugin/macros.py"
    ).read_bytes()


def test_empty_plugins_folder_ships_no_zip(fake_repo):
    for path in sorted((fake_repo / "plugins").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    assert build_zip(RepoFiles.read(fake_repo).under("plugins")) is None
    artifacts, notes = collect_artifacts(RepoFiles.read(fake_repo))
    assert [a.key for a in artifacts] == ["requirements.txt"]
    assert any("plugins/ has no files" in note for note in notes)


def test_a_repo_without_the_spark_job_notes_it_and_ships_nothing_for_it(fake_repo):
    artifacts, notes = collect_artifacts(RepoFiles.read(fake_repo))
    assert SPARK_JOB not in [a.key for a in artifacts]
    assert any(note.startswith(f"{SPARK_JOB}: not in the repo") for note in notes)
    add_spark_job(fake_repo)
    artifacts, _ = collect_artifacts(RepoFiles.read(fake_repo))
    (job,) = [a for a in artifacts if a.key == SPARK_JOB]
    assert not job.read_by_mwaa and job.path_field is None and job.version_field is None


def test_deploy_ships_the_modules_the_dag_submits_the_job_with():
    """EMR Serverless finds the job's modules only where --py-files says, beside the script make deploy uploads."""
    assert job_modules(SPARK_JOB_SCRIPT).split(",") == list(SPARK_JOB_MODULES)
    assert all((REPO_ROOT / key).is_file() for key in (SPARK_JOB_SCRIPT, *SPARK_JOB_MODULES))


def test_an_untracked_dag_never_ships_and_the_plan_says_how_to_ship_it(fake_repo):
    write(fake_repo / "dags" / "new_pipeline.py", "from airflow.sdk import dag\n")
    files = RepoFiles.read(fake_repo)
    assert "new_pipeline.py" not in dict(files.under("dags"))
    _, notes = collect_artifacts(files)
    assert "dags/new_pipeline.py: not tracked by git (git add it to ship it)" in notes

    track(fake_repo / "dags" / "new_pipeline.py")
    assert "new_pipeline.py" in dict(RepoFiles.read(fake_repo).under("dags"))


def test_a_force_added_local_store_is_still_kept_out_by_the_ignore_file(fake_repo):
    git(fake_repo, "add", "--force", "dags/airflow.db", "dags/.local/mlflow/mlflow.db")
    assert "dags/airflow.db" in git(fake_repo, "ls-files")
    assert not {"airflow.db", ".local/mlflow/mlflow.db"} & set(dict(RepoFiles.read(fake_repo).under("dags")))


def test_the_ignore_file_decides_what_tracked_files_stay_home(fake_repo):
    write(fake_repo / ".mwaaignore", "tasks.py\n")
    shipped = {relative for relative, _ in RepoFiles.read(fake_repo).under("dags")}
    assert "ml_pipeline/tasks.py" not in shipped
    assert "tests/test_pipeline.py" in shipped, "without the pattern, a tracked test ships"


def test_a_lock_file_that_does_not_ship_is_refused_with_the_reason(fake_repo):
    git(fake_repo, "rm", "--cached", "--quiet", "dags/constraints.txt")
    with pytest.raises(DeployError, match=r"names /usr/local/airflow/dags/constraints.txt but .*not tracked by git"):
        collect_artifacts(RepoFiles.read(fake_repo))


def test_a_folder_that_is_not_a_git_clone_is_refused(tmp_path):
    write(tmp_path / "dags" / "pipeline.py", "")
    with pytest.raises(DeployError, match="not a git work tree.*deploy from a clone"):
        RepoFiles.read(tmp_path)


def test_this_repository_ships_exactly_its_tracked_dags_and_plugins():
    tracked = git(REPO_ROOT, "ls-files", "dags", "plugins").split()
    files = RepoFiles.read(REPO_ROOT)
    shipped = [f"{folder}/{relative}" for folder in ("dags", "plugins") for relative, _ in files.under(folder)]
    assert shipped == sorted(p for p in tracked if (REPO_ROOT / p).exists())
