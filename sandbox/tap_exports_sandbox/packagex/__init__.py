"""The packagex emulator: routes, datasets and options."""
