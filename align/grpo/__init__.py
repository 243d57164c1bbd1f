"""GRPO support: prompt selection by reward variance, rollouts through align's samplers, completion logs."""
