"""The champion under watch: drift statistics of a scoring run's counts against the version's reference (kept as
counts over fixed bins by data/profile.py) and their verdict (drift.py), and the report for people and machines
(report.py)."""
