"""Streaming byte sources and decoders for export files."""
