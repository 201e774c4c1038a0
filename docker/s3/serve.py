"""Serve an S3-compatible API with moto on 0.0.0.0:$S3_PORT and create the buckets in $S3_BUCKETS.

Objects live in memory: they last as long as this container (the stack's MLflow artifacts do not live
here, they are in a named volume). The healthcheck lists the first bucket, so "healthy" means usable.
"""

from __future__ import annotations

import os
import signal
import threading

import boto3
from moto.server import ThreadedMotoServer


def main() -> None:
    port = int(os.environ.get("S3_PORT", "9000"))
    buckets = [name for name in os.environ.get("S3_BUCKETS", "").split(",") if name]
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")

    server = ThreadedMotoServer(ip_address="0.0.0.0", port=port, verbose=True)  # noqa: S104 (a container)
    server.start()
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name=region,
        aws_access_key_id="moto",
        aws_secret_access_key="moto",  # noqa: S106 (moto accepts any credentials)
    )
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
        print(f"created bucket s3://{bucket}", flush=True)
    print(f"S3 endpoint ready on port {port}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
