"""rewardlab: reproducible reward-model training and evaluation (DVC + transformers + TRL + PEFT)."""

__version__ = "0.1.0"
