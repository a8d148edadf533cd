"""The predict journal: keys that change with the input, torn lines, no study UID."""

from __future__ import annotations

import os

from e2e_mammo.predict.journal import JOURNAL_NAME, Journal, image_key, load_journal


def test_image_key_changes_when_the_input_changes(tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(b"x")
    before = image_key("run", image)
    os.utime(image, ns=(5, 5))
    assert image_key("run", image) != before
    assert image_key("other run", image) != image_key("run", image)


def test_a_torn_last_line_is_skipped(tmp_path):
    journal = Journal(tmp_path)
    journal.append("k1", {"image_index": "a"})
    journal.close()
    with (tmp_path / JOURNAL_NAME).open("a") as handle:
        handle.write('{"key": "k2", "ro')
    assert list(load_journal(tmp_path).done) == ["k1"]


def test_an_input_started_but_never_finished_is_taken_for_a_crash(tmp_path):
    journal = Journal(tmp_path)
    journal.start("k1", "a")
    journal.start("k2", "b")
    journal.append("k2", {"image_index": "b"})
    journal.start("k3", "c")
    journal.failed("k3")
    journal.close()
    seen = load_journal(tmp_path)
    assert seen.crashed == {"k1"} and list(seen.done) == ["k2"]


def test_a_name_that_is_not_utf8_has_a_key(tmp_path):
    name = os.fsdecode("Müller_R_MLO.png".encode("latin-1"))
    image = tmp_path / name
    image.write_bytes(b"x")
    assert len(image_key("run", image)) == 64
