"""The bundled example's columns, for tests that build Wine-shaped data by hand (the pipeline itself infers them)."""

from sklearn.datasets import load_wine

FEATURES = tuple(load_wine().feature_names)
TARGET = "target"
