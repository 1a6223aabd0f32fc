"""One module per provider: how to create, poll and locate its exports, and what rows look like."""
