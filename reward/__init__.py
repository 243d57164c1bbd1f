"""Rewards for align: verifiers, the code sandbox, reward dimensions and the six-head reward model.

The sandbox (`reward.sandbox`) is the only code in the project that executes model output.
"""
