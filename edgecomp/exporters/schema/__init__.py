"""Vendored flatbuffer schemas (generated code; see each file's header)."""
