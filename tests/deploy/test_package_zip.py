"""spark_jobs/ml_pipeline.zip: dags/ml_pipeline zipped for the segment training job's --py-files, the same bytes for
the same package (so deploy does not upload it again) and importable from the zip alone."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

from deploy_fakes import REPO_ROOT, add_spark_job, git, write

from deploy.bundle import (
    PACKAGE_FOLDER,
    PACKAGE_ZIP,
    SPARK_JOB_SCRIPT,
    SPARK_TRAINING_SCRIPT,
    ZIP_EPOCH,
    build_package_zip,
    collect_artifacts,
)
from deploy.files import RepoFiles
from ml_pipeline.segments import spark_engine

# Run with only the zip on PYTHONPATH: every ml_pipeline module must come from it, none from dags/.
IMPORT_FROM_ZIP = """
import sys, zipimport
import ml_pipeline.segments.spark_engine as engine
loaders = {name: module.__loader__ for name, module in sys.modules.items() if name.split(".")[0] == "ml_pipeline"}
outside = sorted(name for name, loader in loaders.items() if not isinstance(loader, zipimport.zipimporter))
assert not outside, f"not from the zip: {outside}"
print(engine.__file__)
"""


def package_zip(repo: Path) -> zipfile.ZipFile:
    content = build_package_zip(RepoFiles.read(repo))
    assert content is not None
    return zipfile.ZipFile(io.BytesIO(content))


def fresh_clone_of_the_package(tmp_path: Path) -> Path:
    """The package's shipped files in a new git repo, with other modification times, a cache and a tracked data
    file, as another checkout would have them."""
    clone = tmp_path / "clone"
    for relative, path in RepoFiles.read(REPO_ROOT).under(PACKAGE_FOLDER):
        copy = clone / PACKAGE_FOLDER / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
        os.utime(copy, (1_000_000_000, 1_000_000_000))
    for ignore_file in (".gitignore", ".mwaaignore"):
        shutil.copyfile(REPO_ROOT / ignore_file, clone / ignore_file)
    write(clone / PACKAGE_FOLDER / "__pycache__" / "errors.cpython-312.pyc", "bytecode")
    write(clone / PACKAGE_FOLDER / "notes.md", "not a module\n")
    git(clone, "init", "--quiet")
    git(clone, "add", "--all")
    return clone


def test_the_package_zips_to_the_same_bytes_in_any_checkout(tmp_path):
    first = build_package_zip(RepoFiles.read(REPO_ROOT))
    assert first is not None
    assert build_package_zip(RepoFiles.read(REPO_ROOT)) == first
    assert build_package_zip(RepoFiles.read(fresh_clone_of_the_package(tmp_path))) == first


def test_the_zip_holds_exactly_the_packages_modules_under_ml_pipeline():
    archive = package_zip(REPO_ROOT)
    tracked = git(REPO_ROOT, "ls-files", "-z", PACKAGE_FOLDER).split("\0")
    modules = {path.removeprefix("dags/") for path in tracked if path.endswith(".py") and (REPO_ROOT / path).is_file()}
    files = {name for name in archive.namelist() if not name.endswith("/")}
    folders = {name for name in archive.namelist() if name.endswith("/")}
    assert files == modules
    assert folders == {f"{parent}/" for name in files for parent in PurePosixPath(name).parents[:-1]}
    assert archive.namelist() == sorted(archive.namelist())
    assert all(info.date_time == ZIP_EPOCH for info in archive.infolist())


def test_the_training_job_imports_ml_pipeline_from_the_zip_alone(tmp_path):
    zipped = tmp_path / "ml_pipeline.zip"
    zipped.write_bytes(build_package_zip(RepoFiles.read(REPO_ROOT)) or b"")
    result = subprocess.run(
        [sys.executable, "-P", "-c", IMPORT_FROM_ZIP],  # -P: not the working directory either
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(zipped)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(zipped / "ml_pipeline" / "segments" / "spark_engine.py")


def test_deploy_ships_the_training_job_and_its_zip_where_the_dag_submits_them():
    """emr_training_job submits both from spark_job_script_uri's folder, where the scoring job is."""
    folder = PurePosixPath(SPARK_JOB_SCRIPT).parent
    assert PurePosixPath(SPARK_TRAINING_SCRIPT) == folder / spark_engine.JOB_SCRIPT
    assert PurePosixPath(PACKAGE_ZIP) == folder / spark_engine.PACKAGE_ZIP
    assert (REPO_ROOT / SPARK_TRAINING_SCRIPT).is_file()


def test_the_zip_ships_only_with_the_training_job(fake_repo):
    artifacts, notes = collect_artifacts(RepoFiles.read(fake_repo))
    assert PACKAGE_ZIP not in [a.key for a in artifacts]
    assert any(note.startswith(f"{SPARK_TRAINING_SCRIPT}: not in the repo") and PACKAGE_ZIP in note for note in notes)

    add_spark_job(fake_repo)
    artifacts, _ = collect_artifacts(RepoFiles.read(fake_repo))
    keys = [a.key for a in artifacts]
    assert keys.index(PACKAGE_ZIP) == keys.index(SPARK_TRAINING_SCRIPT) + 1
    assert package_zip(fake_repo).namelist() == ["ml_pipeline/", "ml_pipeline/__init__.py", "ml_pipeline/tasks.py"]
