"""deploy_champion: the pinned version packaged as SageMaker's model.tar.gz (package.py), and its rollout to a
real-time endpoint, planned, requested through the Amazon provider's operators and confirmed (sagemaker.py)."""
