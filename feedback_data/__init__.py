"""Typed records, parsers, importers and the on-disk store for rich feedback."""
