"""The connect emulator: routes, datasets and options."""
