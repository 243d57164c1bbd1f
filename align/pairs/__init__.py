"""Rejection sampling: verified samples in, DPO preference pairs out."""
