"""Models: finding and loading them (LoRA, 4-bit, attention options), exporting merged ones, reward-source inputs."""
