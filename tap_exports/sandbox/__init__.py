"""A local emulator of the five providers' export APIs, for tests, benchmarks and the demo."""
