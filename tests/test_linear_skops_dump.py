"""persist_model logs a large forest in time linear in its trees (skops' dump, made linear by registry/run_log.py)."""


def test_skops_dump_finds_its_entry_names_through_the_zip_index(monkeypatch, wine_frame):
    """linear_skops_dump only helps while skops checks each array's entry name with ZipFile.namelist(); when an
    upgrade stops doing that, this fails and the workaround can go. The file must load back as before."""
    import zipfile

    import skops.io
    from skops.io import _persist
    from wine import FEATURES, TARGET

    from ml_pipeline.registry import run_log as mlflow_runs
    from ml_pipeline.registry.publish import import_skops_quietly
    from ml_pipeline.training.train import build_pipeline, skops_trusted_types

    import_skops_quietly()
    model = build_pipeline("extra_trees", {"n_estimators": 3}, 42, schema=None).fit(
        wine_frame[list(FEATURES)], wine_frame[TARGET]
    )
    lookups = []
    indexed = mlflow_runs._IndexedZipFile.namelist
    monkeypatch.setattr(mlflow_runs._IndexedZipFile, "namelist", lambda self: lookups.append(1) or indexed(self))
    with mlflow_runs.linear_skops_dump():
        data = skops.io.dumps(model)
    assert _persist.ZipFile is zipfile.ZipFile
    assert len(lookups) >= 3 * 2  # at least a tree's node and value arrays, each looked up in the index
    loaded = skops.io.loads(data, trusted=skops_trusted_types("extra_trees"))
    assert (loaded.predict_proba(wine_frame[list(FEATURES)]) == model.predict_proba(wine_frame[list(FEATURES)])).all()
