"""rewardlab: reproducible reward-model training and evaluation with DVC, TRL and PEFT."""

__version__ = "0.1.0"
