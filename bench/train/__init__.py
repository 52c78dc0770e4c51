"""Config -> Avalanche benchmark + strategy -> rows: the runner, the recorder (our one plugin), fast path, metrics."""
