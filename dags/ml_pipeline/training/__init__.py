"""One candidate's training: the scikit-learn pipeline, its fit, holdout evaluation and fingerprint (train.py), held
to what a candidate may cost (budget.py)."""
