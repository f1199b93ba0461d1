"""A batch's work: the plan, and the two passes over each shard (prepare, tag)."""
