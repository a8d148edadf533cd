"""Worker processes start with forkserver where the platform has it, else spawn; never fork."""

from e2e_mammo.start_method import start_method


def test_forkserver_where_the_platform_has_it() -> None:
    assert start_method(["fork", "spawn", "forkserver"]) == "forkserver"


def test_spawn_where_forkserver_is_missing() -> None:
    assert start_method(["spawn"]) == "spawn"
    assert start_method(["fork", "spawn"]) == "spawn"


def test_this_platform_gets_a_method_it_has() -> None:
    import multiprocessing

    assert start_method() in multiprocessing.get_all_start_methods()
