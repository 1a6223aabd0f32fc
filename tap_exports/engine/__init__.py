"""Provider-agnostic export lifecycle: create, poll, locate, download, decode, emit."""
