"""Output times restored from Snakemake's records after a DVC checkout."""

import base64
import json
import os

from e2e_mammo.output_times import inconsistent, read_records, restore_output_times


def _record(metadata, path, inputs, endtime, **extra):
    name = base64.urlsafe_b64encode(path.encode()).decode()
    record = {"input": inputs, "endtime": endtime, "incomplete": False, **extra}
    (metadata / name).write_text(json.dumps(record))


def _chain(tmp_path, monkeypatch):
    """a.txt -> b.txt -> c.txt, recorded in that order; returns the metadata folder."""
    monkeypatch.chdir(tmp_path)
    metadata = tmp_path / ".snakemake/metadata"
    metadata.mkdir(parents=True)
    for i, (name, inputs) in enumerate([("a.txt", []), ("b.txt", ["a.txt"]), ("c.txt", ["b.txt"])]):
        (tmp_path / name).write_text(name)
        _record(metadata, name, inputs, 1000.0 + i)
        os.utime(name, (1000.0 + i, 1000.0 + i))
    return metadata


def test_records_name_their_output_inputs_and_end(tmp_path, monkeypatch):
    records = {r.path: r for r in read_records(_chain(tmp_path, monkeypatch))}
    assert records["b.txt"].inputs == ("a.txt",) and records["b.txt"].endtime == 1001.0


def test_long_record_names_split_into_folders_are_decoded(tmp_path):
    path = "results/" + "x" * 300 + ".csv"
    encoded = base64.urlsafe_b64encode(path.encode()).decode()
    folder = tmp_path / ("@" + encoded[:254])
    folder.mkdir()
    (folder / encoded[254:]).write_text(json.dumps({"input": [], "endtime": 1.0}))
    assert [r.path for r in read_records(tmp_path)] == [path]


def test_incomplete_records_are_skipped(tmp_path):
    _record(tmp_path, "x.txt", [], 5.0, incomplete=True)
    assert read_records(tmp_path) == []


def test_consistent_times_are_left_untouched(tmp_path, monkeypatch):
    metadata = _chain(tmp_path, monkeypatch)
    assert restore_output_times(metadata) == 0
    assert os.stat("c.txt").st_mtime == 1002.0


def test_checked_out_times_are_restamped_in_the_jobs_order(tmp_path, monkeypatch):
    metadata = _chain(tmp_path, monkeypatch)
    os.utime("a.txt", (5000.0, 5000.0))  # as `dvc pull` may leave them
    assert inconsistent(read_records(metadata))
    assert restore_output_times(metadata, now=9000.0) == 3
    times = [os.stat(n).st_mtime for n in ("a.txt", "b.txt", "c.txt")]
    assert times == sorted(times) and times[0] < times[-1] <= 9000.0
    assert restore_output_times(metadata) == 0  # consistent now


def test_missing_outputs_are_skipped(tmp_path, monkeypatch):
    metadata = _chain(tmp_path, monkeypatch)
    os.remove("b.txt")
    os.utime("a.txt", (5000.0, 5000.0))
    assert not inconsistent(read_records(metadata))  # nothing consumes a.txt any more


def test_benchmark_files_are_stamped_after_every_output(tmp_path, monkeypatch):
    metadata = _chain(tmp_path, monkeypatch)
    benchmark = tmp_path / "benchmarks/b.tsv"
    benchmark.parent.mkdir()
    benchmark.write_text("s\n1\n")
    os.utime(benchmark, (1001.0, 1001.0))  # as the job wrote it, before the checkout
    os.utime("a.txt", (5000.0, 5000.0))
    restore_output_times(metadata, now=9000.0)
    assert os.stat(benchmark).st_mtime == 9000.0 > os.stat("c.txt").st_mtime
