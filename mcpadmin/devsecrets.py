"""Generated secrets for a development machine, so that `make run` needs no set-up.

A secret that is not in the environment is generated once into `var/secrets/`
(git-ignored, mode 0600) and reused, so sessions and API keys survive
restarts. The system check `mcpadmin.W001` warns on every `migrate`,
`runserver` and `check` while any of them is in use: production sets them
all in the environment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

#: Names of the secrets generated in this process.
generated: set[str] = set()


def development_secret(directory: Path, name: str, make: Callable[[], str] = lambda: secrets.token_urlsafe(50)) -> str:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text().strip()
    else:
        value = make()
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
    generated.add(name)
    return value
