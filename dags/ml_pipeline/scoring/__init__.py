"""batch_predictions: the pinned version and the local engine (batch.py), the row rules both engines apply
(rows.py), the output's layout and completeness (output.py), and the Spark engine, local or on EMR Serverless
(spark.py)."""
