"""The Mailgun exports emulator (providers.md §1)."""
