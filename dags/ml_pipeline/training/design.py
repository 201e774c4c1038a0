"""Fit a model's Pipeline without the copies `Pipeline.fit` makes of every training row at once.

`Pipeline.fit` transforms all rows in one call: each part of the preprocessing writes its own output, and the
ColumnTransformer stacks them into one more copy (a sparse one through triplets of every value, 24 bytes each). At a
million rows of 50 columns that is several times the data (docs/benchmarks.md, "Scale"). Here each part is fitted on
all the rows, as Pipeline.fit fits it, and frozen (scikit-learn's FrozenEstimator: a fitted estimator a
meta-estimator uses as it is); the ColumnTransformer is assembled around the parts on a few rows; the rows are then
transformed a batch at a time into one matrix in the classifier's own dtype, the rows are freed, and the classifier
is fitted on the matrix. The model predicts as Pipeline.fit's does on the same values (in the matrix's dtype:
tests/test_training.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from ml_pipeline.config.classifiers import CLASSIFIERS
from ml_pipeline.config.training import Budget
from ml_pipeline.training.budget import fit_within

ASSEMBLY_ROWS = 1_000  # rows the ColumnTransformer is assembled on (they decide whether its output is sparse)
BATCH_ROWS = 50_000  # rows transformed at a time

type Matrix = np.ndarray | sparse.csr_matrix


def fit_pipeline(
    model: Pipeline, classifier: str, read_rows: Callable[[], tuple[pd.DataFrame, pd.Series]], budget: Budget
) -> None:
    """Fit `model` (preprocessing, then the classifier within `budget`). The rows come from `read_rows`, so that
    nothing else holds them once the matrix is built."""
    features, labels = read_rows()
    preprocess = fit_preprocessing(model.named_steps["preprocess"], features, labels)
    matrix = design_matrix(preprocess, features, CLASSIFIERS[classifier].dtype)
    del features
    model.set_params(preprocess=preprocess)
    fit_within(model.named_steps["classifier"], classifier, matrix, labels, budget)


def fit_preprocessing(preprocess: ColumnTransformer, features: pd.DataFrame, labels: pd.Series) -> ColumnTransformer:
    parts = [
        (name, _fitted(part, features[columns], labels), columns) for name, part, columns in preprocess.transformers
    ]
    assembly = slice(0, ASSEMBLY_ROWS)
    return clone(preprocess).set_params(transformers=parts).fit(features.iloc[assembly], labels.iloc[assembly])


def _fitted(part: Any, features: pd.DataFrame, labels: pd.Series) -> Any:
    return part if isinstance(part, str) else FrozenEstimator(clone(part).fit(features, labels))  # str: "passthrough"


def design_matrix(preprocess: ColumnTransformer, features: pd.DataFrame, dtype: str) -> Matrix:
    """The classifier's input for every row: one dense array, or one CSR matrix when the output is sparse."""
    batches = [slice(start, start + BATCH_ROWS) for start in range(0, len(features), BATCH_ROWS)]
    if preprocess.sparse_output_:
        return _sparse_rows(preprocess, features, batches, dtype)
    matrix = np.empty((len(features), len(preprocess.get_feature_names_out())), dtype=dtype)
    for rows in batches:
        matrix[rows] = preprocess.transform(features.iloc[rows])
    return matrix


def _sparse_rows(preprocess: ColumnTransformer, features: pd.DataFrame, batches: list[slice], dtype: str) -> Matrix:
    """Two passes: the first counts each batch's stored values, so that the second writes every batch straight into
    the matrix (batches kept for a final stack would be a second copy of it)."""
    nnz = sum(preprocess.transform(features.iloc[rows]).nnz for rows in batches)
    index = np.int32 if nnz < np.iinfo(np.int32).max else np.int64
    data, indices = np.empty(nnz, dtype=dtype), np.empty(nnz, dtype=index)
    indptr = np.zeros(len(features) + 1, dtype=np.int64)
    at, width = 0, 0
    for rows in batches:
        piece = preprocess.transform(features.iloc[rows])
        data[at : at + piece.nnz], indices[at : at + piece.nnz] = piece.data, piece.indices
        indptr[rows.start + 1 : rows.start + 1 + piece.shape[0]] = piece.indptr[1:] + at
        at, width = at + piece.nnz, piece.shape[1]
    return sparse.csr_matrix((data, indices, indptr), shape=(len(features), width))
