"""The model server: the champion (or a pinned version) over HTTP with MLflow's scoring protocol. docs/serving.md."""
