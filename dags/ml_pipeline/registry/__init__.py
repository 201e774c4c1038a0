"""MLflow: the connection and what its failures mean (connection.py), the runs persist_model logs (run_log.py), one
registered version per training (registration.py), the champion gate (gate.py), persist_model's whole step
(publish.py), and which version an alias or number names (lookup.py)."""
