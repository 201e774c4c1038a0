"""A scoring run's output: Parquet parts written as they fill, counts, and a marker written last."""

import pandas as pd
import pytest

from ml_pipeline.errors import DataValidationError
from ml_pipeline.scoring.output import PartWriter, clear, mark_complete, read_counts, write_counts
from ml_pipeline.store.objects import Storage


def frame(rows, start=0):
    return pd.DataFrame({"id": range(start, start + rows), "value": [0.5] * rows})


def test_parts_hold_at_most_part_rows_and_together_hold_every_row(tmp_path):
    writer = PartWriter(Storage(), str(tmp_path / "predictions"), part_rows=4)
    writer.write(frame(3))
    writer.write(frame(6, start=3))
    assert writer.close() == 9
    parts = sorted((tmp_path / "predictions").iterdir())
    assert [path.name for path in parts] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [len(pd.read_parquet(path)) for path in parts] == [4, 4, 1]
    assert pd.read_parquet(tmp_path / "predictions")["id"].tolist() == list(range(9))


def test_nothing_written_means_no_part(tmp_path):
    assert PartWriter(Storage(), str(tmp_path / "rejected")).close() == 0
    assert not (tmp_path / "rejected").exists()


def test_a_column_that_changes_type_fails_with_one_line(tmp_path):
    writer = PartWriter(Storage(), str(tmp_path / "predictions"))
    writer.write(pd.DataFrame({"id": [1]}))
    with pytest.raises(DataValidationError, match="a column's type changes within the source"):
        writer.write(pd.DataFrame({"id": ["not a number"]}))


def test_parts_counts_and_marker_on_s3_and_a_clear_removes_only_this_output(s3_client):
    s3_client.create_bucket(Bucket="artifacts")
    storage = Storage(lambda: s3_client)
    output = "s3://artifacts/batch_predictions/run_1"
    s3_client.put_object(Bucket="artifacts", Key="batch_predictions/run_10/_SUCCESS", Body=b"{}")
    writer = PartWriter(storage, f"{output}/predictions", part_rows=2)
    writer.write(frame(3))
    writer.close()
    counts = {"rows_in": 3, "rows_scored": 3, "rows_rejected": 0, "rows_with_unseen_categories": 1, "seconds": 1.5}
    write_counts(storage, output, counts)
    mark_complete(storage, output, {"rows_in": 3})
    keys = {item["Key"] for item in s3_client.list_objects_v2(Bucket="artifacts")["Contents"]}
    assert {"batch_predictions/run_1/predictions/part-00001.parquet", "batch_predictions/run_1/_SUCCESS"} <= keys
    assert read_counts(storage, output) == counts
    clear(storage, output)
    keys = {item["Key"] for item in s3_client.list_objects_v2(Bucket="artifacts")["Contents"]}
    assert keys == {"batch_predictions/run_10/_SUCCESS"}  # the run whose name starts the same is left alone


def test_counts_from_several_json_lines_files_are_summed(tmp_path):
    (tmp_path / "_counts").mkdir()
    (tmp_path / "_counts" / "part-0.json").write_text('{"rows_in": 2, "rows_scored": 1, "rows_rejected": 1, '
                                                      '"rows_with_unseen_categories": 1, "seconds": 3}\n')  # fmt: skip
    (tmp_path / "_counts" / "part-1.json").write_text('{"rows_in": 5, "rows_scored": 5, "rows_rejected": 0, '
                                                      '"rows_with_unseen_categories": 2, "seconds": 4}\n')  # fmt: skip
    assert read_counts(Storage(), str(tmp_path)) == {"rows_in": 7, "rows_scored": 6, "rows_rejected": 1,
                                                     "rows_with_unseen_categories": 3, "seconds": 4.0}  # fmt: skip


def test_missing_counts_mean_the_scoring_step_did_not_finish(tmp_path):
    with pytest.raises(DataValidationError, match="holds no counts: the scoring step did not finish"):
        read_counts(Storage(), str(tmp_path / "run"))
