"""The batch emulator: routes, datasets and options."""
