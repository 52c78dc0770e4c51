"""The continual-learning bench engine: task streams, strategies, runs, metrics and the results store."""
