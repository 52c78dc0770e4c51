"""Where runs happen: the queue in the store, the local warm worker pool, and Ray clusters."""
