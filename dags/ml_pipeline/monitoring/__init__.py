"""The champion under watch: distributions as counts over a reference's bins (profile.py), drift statistics and
their verdict (drift.py), and the report for people and machines (report.py)."""
