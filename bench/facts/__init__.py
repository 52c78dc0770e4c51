"""The factual-recall add-on as one slice: its stream, its measures and probes, its queries and its charts."""
