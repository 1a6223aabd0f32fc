"""The emarsys emulator: routes, datasets and options."""
