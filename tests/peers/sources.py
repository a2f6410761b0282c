"""
The peers' own test modules, from the source archives `make peers` extracts
into .peers/ (the installed versions': only the sdists carry their tests).

They are imported as they are. Their absolute imports of the peer's other
test modules, or of models that cannot exist in this project, are answered
by stand-ins, only while the peer's module is being imported.
"""

import importlib
import sys
from contextlib import contextmanager
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parents[2] / ".peers"


@contextmanager
def _standing_in(modules):
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                del sys.modules[name]
            else:
                sys.modules[name] = module


def import_peer(name, stand_ins=None):
    """
    Import the peer's module ``name`` (a dotted path under .peers/), with
    ``stand_ins`` (``{module name: module}``) answering the imports it makes.
    A missing .peers/ fails loudly: the suites must run, never be skipped.
    """
    if not (PEERS_DIR / ".extracted").exists():
        raise RuntimeError(
            f"{PEERS_DIR} is missing: run `make peers` (part of `make test`)."
        )
    if str(PEERS_DIR) not in sys.path:
        sys.path.append(str(PEERS_DIR))
    with _standing_in(stand_ins or {}):
        return importlib.import_module(name)
