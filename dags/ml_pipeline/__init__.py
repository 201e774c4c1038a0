"""Task logic of the classification pipeline, free of Airflow so it can be tested and reused by scripts/."""
