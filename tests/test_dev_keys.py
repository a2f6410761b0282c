"""ventures.dev_keys: development's keys, generated once and kept private."""

import stat
import threading
from concurrent.futures import ThreadPoolExecutor

from ventures.dev_keys import kept_key


def test_a_key_is_made_once_private_then_kept(tmp_path):
    path = tmp_path / ".secret-key"
    assert kept_key(path, lambda: "first\n") == "first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert kept_key(path, lambda: "second") == "first"


def test_processes_starting_together_all_keep_the_first_key(tmp_path):
    path = tmp_path / ".secret-key"
    together = threading.Barrier(8)

    def start(n):
        def generate():
            together.wait(timeout=10)  # every one has found no file
            return f"key {n}"

        return kept_key(path, generate)

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(start, range(8)))
    assert keys == {path.read_text()}
    assert [p.name for p in tmp_path.iterdir()] == [".secret-key"]


def test_without_hard_links_the_key_is_renamed_into_place(tmp_path, monkeypatch):
    """Some mounted volumes refuse links (EPERM): the key is still whole."""

    def no_links(source, target):
        raise PermissionError("Operation not permitted")

    monkeypatch.setattr("os.link", no_links)
    path = tmp_path / ".patreon-token-key"
    assert kept_key(path, lambda: "key") == "key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [".patreon-token-key"]
