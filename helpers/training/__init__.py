"""Training: the loop in named steps, evaluation, checkpoints, one run end to end."""
