"""Task logic of this project's DAGs, free of Airflow, so that it can be tested and reused by scripts/.

One sub-package per concern, each importing only from those listed before it (tests/test_layers.py holds this):
config, store, data, monitoring, training, registry, scoring, segments, deployment. errors.py and contract.py (what
tasks exchange) serve them all.
"""
