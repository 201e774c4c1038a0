"""Configuration: the one validated settings model (model.py, made of one group of settings per concern), where each
value comes from (layers.py), and the registry of classifiers a run can train (classifiers.py). Light: the DAG files'
trigger forms import it at parse time.
"""
