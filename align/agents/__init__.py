"""Tool-using episodes: the tools a recipe names, one environment per episode for TRL's tool loop, malformed calls
turned into messages the model reads, and the counts the training log reports.

TRL's `GRPOTrainer` runs the loop (generate, parse `<tool_call>`s, call the tools, append their results, generate
again) and masks tool results out of the loss; align supplies what it calls: `Toolbox.episode_class()` as
`environment_factory`, whose methods are the recipe's tools.
"""
