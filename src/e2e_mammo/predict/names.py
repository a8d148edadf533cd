"""Input names as ``e2e-mammo predict`` writes them: printable text, or keyed hashes.

File systems hand Python bytes; names that are not UTF-8 (a Latin-1 ``Müller_R_MLO.png`` from
an old CD) arrive as lone surrogates, which no UTF-8 file can hold. :func:`printable` shows
such bytes as ``\\xNN`` escapes, so every table, log line and JSON file can be written.

Folders named by patient or by UID carry identifiers in their names. With ``--hash-names``,
every name written (image index, file, exam, overlay file name, failures, ignored files) is
replaced, path part by path part, by ``h-`` and 16 hex digits of an HMAC-SHA256 keyed by the
environment variable :data:`NAME_KEY_ENV`: the same input gets the same name on every run
with the same key, and the key is never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from e2e_mammo.errors import ConfigError

#: The environment variable holding the key of ``--hash-names``.
NAME_KEY_ENV = "E2E_MAMMO_NAME_KEY"
#: Shortest key accepted (characters).
MIN_KEY = 16


def printable(text: str) -> str:
    """``text`` with bytes that were not UTF-8 (surrogates) written as ``\\xNN`` escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def name_bytes(text: str) -> bytes:
    """The bytes the file system gave for ``text`` (its surrogates turned back into bytes)."""
    return text.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Namer:
    """Turns an input's name into the text outputs hold: printable, or hashed when ``key``."""

    key: bytes | None = None

    @property
    def hashing(self) -> bool:
        return self.key is not None

    def __call__(self, text: str) -> str:
        if self.key is None:
            return printable(text)
        return "/".join(self._hash(part) if part else part for part in text.split("/"))

    def _hash(self, part: str) -> str:
        digest = hmac.new(self.key or b"", name_bytes(part), hashlib.sha256).hexdigest()
        return f"h-{digest[:16]}"


def namer(hash_names: bool) -> Namer:
    """The :class:`Namer` of a run; ``hash_names`` needs the key in :data:`NAME_KEY_ENV`."""
    if not hash_names:
        return Namer()
    key = os.environ.get(NAME_KEY_ENV, "")
    if len(key) < MIN_KEY:
        raise ConfigError(
            f"--hash-names needs a secret key of at least {MIN_KEY} characters in the "
            f"environment variable {NAME_KEY_ENV} (it is never written anywhere; keep it to "
            "map hashed names back to your files)"
        )
    return Namer(key.encode())
