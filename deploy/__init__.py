"""Deploy this repository to Amazon MWAA: `python -m deploy push|up|down|destroy` (make deploy, make infra-*).

One concern per module:
- files:       which files ship (what git tracks under dags/ and plugins/, minus .mwaaignore)
- bundle:      the objects MWAA reads whole (requirements.txt, plugins.zip, startup.sh) and the Spark jobs
- sync:        the S3 plan and its application, by content hash and object version; `publish` is the entry point
- environment: updating the MWAA environment to the new object versions and waiting for it
- push:        `make deploy` = publish + environment update, and its summary
- stacks, infra_config, infra: the CloudFormation stacks of `make infra-up/down/destroy` (which publish too)
- aws:         the one place for region, credentials and AWS error codes
boto3 only, no Airflow import.
"""
