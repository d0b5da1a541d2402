"""Jobs: training and evaluating rankers; results; checkpoints; distributed training."""
