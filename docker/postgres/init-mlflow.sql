-- Runs once, when the Postgres volume is initialised: MLflow's backend store lives next to Airflow's
-- metadata database, in its own database and role.
CREATE ROLE mlflow WITH LOGIN PASSWORD 'mlflow';
CREATE DATABASE mlflow OWNER mlflow;
