"""Tune: a search's trials in parallel coordinates, the objective against each setting, and the chosen setting."""
from ui import tune
from ui.common import store

tune.page(store())
