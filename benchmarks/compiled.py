"""Compile setpoint's bytecode before a benchmark starts setpoint commands, as installing it
does.

`pip install .` (the README's way) writes every module's bytecode when it installs, and so
does the peers' virtualenv. An editable install run with PYTHONDONTWRITEBYTECODE set never
writes it, so each command would compile setpoint's modules from source again, a cost no
installed copy pays. This writes the bytecode an installed copy would have; it changes
nothing when it is already there.
"""

from __future__ import annotations

import compileall
from pathlib import Path


def compile_setpoint() -> None:
    import setpoint

    compileall.compile_dir(Path(setpoint.__file__).parent, quiet=1)
