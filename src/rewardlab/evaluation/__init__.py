"""Evaluation: statistics, evaluation sets and RewardBench's conventions."""
