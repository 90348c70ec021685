"""The pipeline stages, one module each, in the order data flows: prepare, featurize, train,
evaluate. Each runs as ``rewardlab <stage>`` and is a stage of ``dvc.yaml``."""
