"""Sources are read in batches: one CSV or Parquet file, or a folder (local or an S3 prefix) of CSV and Parquet
parts; a folder's other files are skipped by name."""

import pandas as pd
import pytest
import synthetic_wine
from wine import FEATURES, TARGET

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.data.snapshot import snapshot_dataset
from ml_pipeline.data.sources import open_source
from ml_pipeline.errors import DataValidationError
from ml_pipeline.store.objects import Storage


def read_all(source, storage=None, batch_rows=1_000, columns=None, encoding="utf-8"):
    storage = storage or Storage()
    frames = list(open_source(source, storage, encoding=encoding).batches(storage, batch_rows, columns))
    assert all(len(frame) <= batch_rows for frame in frames), "no batch is larger than asked"
    return frames, pd.concat(frames)


def test_a_folder_of_parquet_parts_is_read_part_by_part_in_bounded_batches(tmp_path):
    synthetic_wine.write(5_000, tmp_path / "parts", parts=3)
    (tmp_path / "parts" / "_SUCCESS").write_text("")  # markers that writers such as Spark leave are skipped
    (tmp_path / "parts" / ".part-00000.parquet.crc").write_text("")  # hidden files are never data
    assert open_source(str(tmp_path / "parts"), Storage()).skipped == ["_SUCCESS"]
    frames, rows = read_all(str(tmp_path / "parts"))
    assert len(frames) >= 6 and len(rows) == 5_000
    assert list(rows.index) == list(range(5_000)), "row numbers run on across parts, so messages can name a row"
    expected = pd.concat(pd.read_parquet(part) for part in sorted((tmp_path / "parts").glob("*.parquet")))
    assert rows[[*FEATURES, TARGET]].reset_index(drop=True).equals(expected.reset_index(drop=True))


def test_an_s3_prefix_reads_the_same_rows_as_the_local_folder(tmp_path, s3_client):
    synthetic_wine.write(3_000, tmp_path / "parts", parts=2)
    s3_client.create_bucket(Bucket="data")
    for part in sorted((tmp_path / "parts").iterdir()):
        s3_client.upload_file(str(part), "data", f"wine/daily/{part.name}")
    s3_client.put_object(Bucket="data", Key="wine/daily-other/part-00000.parquet", Body=b"not this prefix")
    _, from_s3 = read_all("s3://data/wine/daily/")
    _, local = read_all(str(tmp_path / "parts"))
    pd.testing.assert_frame_equal(from_s3, local)


def test_csv_files_are_read_in_chunks(tmp_path):
    synthetic_wine.write(2_500, tmp_path / "rows.csv")
    frames, rows = read_all(str(tmp_path / "rows.csv"))
    assert len(frames) == 3 and len(rows) == 2_500


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: path.mkdir(), "holds no .csv or .parquet files; point source_uri at a file or a folder"),
        (lambda path: path.with_suffix(".json").write_text("{}"), "unsupported format; use a .csv or .parquet"),
        (lambda path: pd.DataFrame(columns=[*FEATURES, TARGET]).to_parquet(path.with_suffix(".parquet")),
         "has no data rows (at most a header)"),
        (lambda path: pd.DataFrame({"alcohol": [1.0]}).to_parquet(path.with_suffix(".parquet")),
         "missing columns: malic_acid"),  # when columns are named (feature_columns)
        (lambda path: path.with_suffix(".parquet").write_bytes(b"PAR1 not really"), "could not be parsed as PARQUET"),
    ],
)  # fmt: skip
def test_sources_that_cannot_be_read_say_what_is_wrong(tmp_path, make, message):
    target = tmp_path / "source"
    make(target)
    source = next(str(path) for path in tmp_path.iterdir())
    with pytest.raises(DataValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_all(source, columns=[*FEATURES, TARGET])


def test_a_missing_s3_prefix_names_the_source(s3_client):
    s3_client.create_bucket(Bucket="data")
    with pytest.raises(DataValidationError, match="s3://data/nothing/ holds no .csv or .parquet files"):
        read_all("s3://data/nothing/")


def test_a_folder_source_is_snapshotted_like_one_file_with_the_same_rows(tmp_path):
    synthetic_wine.write(4_000, tmp_path / "parts", parts=4)
    pd.concat(pd.read_parquet(part) for part in sorted((tmp_path / "parts").iterdir())).to_parquet(
        tmp_path / "one.parquet", index=False
    )
    folder = snapshot_dataset(PipelineConfig(source_uri=str(tmp_path / "parts")), str(tmp_path / "a"), Storage())
    single = snapshot_dataset(PipelineConfig(source_uri=str(tmp_path / "one.parquet")), str(tmp_path / "b"), Storage())
    assert folder["data_hash"] == single["data_hash"] and folder["rows"] == single["rows"] == 4_000
    assert (folder["train_rows"], folder["holdout_rows"]) == (3_000, 1_000)


def test_a_folder_of_csv_and_parquet_parts_reads_both_and_names_what_it_skips(tmp_path):
    synthetic_wine.write(2_000, tmp_path / "parts", parts=2)
    first = sorted((tmp_path / "parts").iterdir())[0]
    pd.read_parquet(first).to_csv(first.with_suffix(".csv"), index=False)
    first.unlink()
    (tmp_path / "parts" / "README.txt").write_text("how these parts were made")
    source = open_source(str(tmp_path / "parts"), Storage())
    assert [uri.rsplit("/", 1)[-1] for uri in source.files] == ["part-00000.csv", "part-00001.parquet"]
    assert source.skipped == ["README.txt"]
    facts = snapshot_dataset(PipelineConfig(source_uri=str(tmp_path / "parts")), str(tmp_path / "run"), Storage())
    assert facts["rows"] == 2_000 and facts["skipped_files"] == ["README.txt"]


def test_a_csv_that_is_not_utf8_says_to_set_csv_encoding_and_reads_with_it(tmp_path, wine_frame):
    frame = wine_frame.assign(target=wine_frame[TARGET].map({0: "Mâcon", 1: "Côte", 2: "Rosé"}))
    frame.to_csv(tmp_path / "latin.csv", index=False, encoding="latin-1")
    with pytest.raises(DataValidationError, match="latin.csv is not utf-8 text .*; set csv_encoding"):
        read_all(str(tmp_path / "latin.csv"))
    config = PipelineConfig(source_uri=str(tmp_path / "latin.csv"), csv_encoding="latin-1")
    assert snapshot_dataset(config, str(tmp_path / "run"), Storage())["classes"] == ["Côte", "Mâcon", "Rosé"]
