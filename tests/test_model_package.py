"""deploy_champion's package_model: the pinned version as the model.tar.gz SageMaker unpacks into /opt/ml/model, at
one key per version in the artifact store (S3 on moto), uploaded once."""

import gzip
import io
import tarfile

from pipeline_runs import MODEL

from ml_pipeline.config.model import PipelineConfig
from ml_pipeline.deployment.package import package_model, write_tarball
from ml_pipeline.registry.lookup import pin
from ml_pipeline.store.objects import Storage


def test_packaging_puts_mlmodel_at_the_root_of_one_key_per_version_uploaded_once(registry, s3_client):
    s3_client.create_bucket(Bucket="bucket")
    storage = Storage(lambda: s3_client)
    pinned = pin(PipelineConfig(mlflow_tracking_uri=registry, model_name=MODEL))
    first = package_model(pinned, "s3://bucket/ml", storage)
    key = f"ml/sagemaker/{MODEL}/v1/model.tar.gz"
    assert first["model_data_uri"] == f"s3://bucket/{key}" and first["uploaded"]
    body = s3_client.get_object(Bucket="bucket", Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        members = tar.getmembers()
    names = {member.name for member in members}
    assert "MLmodel" in names and not any(name.startswith(("model/", "./", "/")) for name in names)
    assert {member.mtime for member in members} == {0} and {member.uid for member in members} == {0}
    etag = s3_client.head_object(Bucket="bucket", Key=key)["ETag"]

    retry = package_model(pinned, "s3://bucket/ml", Storage(lambda: NoUploads(s3_client)))
    assert retry == first | {"uploaded": False}
    assert s3_client.head_object(Bucket="bucket", Key=key)["ETag"] == etag


def test_the_same_files_make_the_same_tarball(tmp_path):
    (tmp_path / "model" / "sub").mkdir(parents=True)
    (tmp_path / "model" / "MLmodel").write_text("flavors: {}\n")
    (tmp_path / "model" / "sub" / "model.skops").write_bytes(b"weights")
    write_tarball(tmp_path / "model", tmp_path / "a.tar.gz")
    (tmp_path / "model" / "MLmodel").touch()  # a later time changes nothing
    write_tarball(tmp_path / "model", tmp_path / "b.tar.gz")
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    assert gzip.decompress((tmp_path / "a.tar.gz").read_bytes())  # gzip, as SageMaker expects


class NoUploads:
    """An S3 client that may only look: a retry must not upload the package again."""

    def __init__(self, s3):
        self.s3 = s3

    def head_object(self, **kwargs):
        return self.s3.head_object(**kwargs)
