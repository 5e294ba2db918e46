"""Reading a text file so that bytes that are not UTF-8 are one error naming the file and
the byte offset (Python's own error names neither the file nor, readably, the place)."""

from __future__ import annotations

from pathlib import Path


class NotUtf8(ValueError):
    """A file that is not UTF-8 text; ``str()`` names the file, the byte and its offset."""


def read_utf8(path: str | Path) -> str:
    """The text of ``path``; NotUtf8 ('PATH: not UTF-8 text (byte 0x89 at offset 0)') for
    bytes that do not decode. OSError passes through for the caller to word."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                      f"{exc.start})") from None
