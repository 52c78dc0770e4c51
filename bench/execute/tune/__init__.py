"""Hyperparameter search on Ray Tune under a continual-learning protocol: the search space (space), the request
(request), the Ray side (driver, imported only when a search runs) and searches started from the app (background)."""
