"""The performance harness (`python -m bench.perf`): the same work as a plain loop, as Avalanche ships it, and as
the bench's runner does it, timed side by side."""
