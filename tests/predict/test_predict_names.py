"""Names as predict writes them: printable bytes, keyed hashes, a key that must be given."""

from __future__ import annotations

import os

import pytest

from e2e_mammo.errors import ConfigError
from e2e_mammo.predict.names import NAME_KEY_ENV, Namer, name_bytes, namer, printable

LATIN1 = os.fsdecode("Müller_R_MLO.png".encode("latin-1"))


def test_bytes_that_are_not_utf8_are_written_as_escapes():
    assert printable(LATIN1) == "M\\xfcller_R_MLO.png"
    printable(LATIN1).encode("utf-8")  # writable anywhere


def test_name_bytes_gives_back_the_file_systems_bytes():
    assert name_bytes(LATIN1) == "Müller_R_MLO.png".encode("latin-1")


def test_hashed_names_keep_the_folder_structure_and_hide_every_part():
    name = Namer(b"k" * 16)("Doe_Jane/1.2.840.99/R_MLO")
    parts = name.split("/")
    assert len(parts) == 3 and all(p.startswith("h-") and len(p) == 18 for p in parts)
    assert "Doe" not in name and "840" not in name


def test_the_same_key_gives_the_same_name_and_another_key_another():
    assert Namer(b"a" * 16)("x") == Namer(b"a" * 16)("x") != Namer(b"b" * 16)("x")


def test_hashing_without_a_key_says_which_variable_to_set(monkeypatch):
    monkeypatch.delenv(NAME_KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=NAME_KEY_ENV):
        namer(True)


def test_hashing_takes_the_key_from_the_environment(monkeypatch):
    monkeypatch.setenv(NAME_KEY_ENV, "s" * 20)
    assert namer(True) == Namer(b"s" * 20) and namer(False) == Namer()
