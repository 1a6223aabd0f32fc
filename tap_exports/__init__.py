"""tap-exports: a Singer tap for SaaS asynchronous export APIs."""
