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
    assert list(load_journal(tmp_path)) == ["k1"]
