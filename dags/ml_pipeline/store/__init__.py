"""The artifact store every worker reaches: whole objects by URI, a local folder or S3 (objects.py), and the locks
runs take in it (locks.py)."""
