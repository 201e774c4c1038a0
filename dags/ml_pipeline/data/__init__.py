"""The training data: reading a source in batches (sources.py), the checks it must pass (validation.py), and the
split and snapshot get_data writes to the store (snapshot.py)."""
