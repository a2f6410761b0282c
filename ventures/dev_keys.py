"""
Development's generated keys (the secret key, the creator token's sealing
key), each kept in an ignored file of the checkout so that it survives
restarts. Production has none: its keys come from the environment.
"""

import contextlib
import os
import tempfile


def kept_key(path, generate):
    """
    The key kept in ``path``, made with ``generate()`` the first time.

    Written to a private (0600) temporary file, then linked into place:
    processes starting together (``make run`` starts several) read either no
    file or a whole key, never a half-written or world-readable one, and all
    keep the first key linked.
    """
    if not path.is_file():
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.")
        try:
            with os.fdopen(fd, "w") as file:
                file.write(generate())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process was first: its key it is
            except OSError:
                # No hard links on this file system (some mounted volumes):
                # renamed instead, whole still, but the last one wins there.
                os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
    return path.read_text().strip()
