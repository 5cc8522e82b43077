"""A step worker process: reads pickled step tasks from one pipe, runs each, and writes the
outcome (or the step's error) to another. Started by the process executor as
``python -m setpoint.client.worker IN_FD OUT_FD DRIVER_PID``; stdout and stderr stay the
user's.

It ends with the driver: SIGTERM, which it gets also when the driver dies (even by SIGKILL,
on Linux), ends the step it is running as Ctrl-C does (the step's run ``killed``), and then
the worker. A step is never left running for a pipeline run that has ended, to be run a
second time alongside by ``setpoint pipeline resume``.

Messages are an 8-byte big-endian length and that many bytes.
"""

from __future__ import annotations

import os
import signal
import struct
import sys
from typing import IO, Any

HEADER = struct.Struct(">Q")


def write_message(stream: IO[bytes], data: bytes) -> None:
    stream.write(HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_message(stream: IO[bytes]) -> bytes | None:
    """The next message, or None at the end of the stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


def encode_error(exc: BaseException) -> bytes:
    """The step's error for the driver: its pickle when it loads back as itself (an
    exception whose ``__init__`` takes other arguments than its message pickles, then fails
    to load), and always a stand-in naming its type and text, for when it does not."""
    import cloudpickle

    from setpoint.client.executors import StepError

    pickled: bytes | None
    try:
        pickled = bytes(cloudpickle.dumps(exc))
        cloudpickle.loads(pickled)
    except Exception:
        pickled = None
    return bytes(cloudpickle.dumps(("error", (pickled, StepError.of(exc)))))


def serve(tasks: IO[bytes], results: IO[bytes]) -> None:
    import cloudpickle

    from setpoint.client.executors import STOPPING, execute_payload

    while (message := read_message(tasks)) is not None:
        try:
            reply: Any = bytes(cloudpickle.dumps(("ok", execute_payload(message))))
        except BaseException as exc:
            reply = encode_error(exc)
        write_message(results, reply)
        if STOPPING.is_set():  # told to stop: no step after this one
            return


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if len(argv) > 2:
        _end_with(int(argv[2]))
    tasks = os.fdopen(int(argv[0]), "rb")
    results = os.fdopen(int(argv[1]), "wb")
    try:
        serve(tasks, results)
    except (KeyboardInterrupt, BrokenPipeError):  # stopped, or the driver is gone
        sys.exit(143)


def _stop(signum: int, frame: Any) -> None:
    """The first SIGTERM or SIGINT (Ctrl-C reaches the driver and its workers alike) ends the
    step as Ctrl-C does, its run ``killed``; later ones are ignored, so that ending that run
    is not itself interrupted (which would leave it to be ended ``finished`` at exit)."""
    from setpoint.client.executors import STOPPING

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    STOPPING.set()
    raise KeyboardInterrupt


def _end_with(driver: int) -> None:
    """On Linux, have SIGTERM sent here when the driver dies; elsewhere, or without ctypes,
    nothing ties them."""
    from setpoint.core.libc import parent_death_tie

    tie = parent_death_tie(driver)
    if tie is not None and not tie():  # it died before the tie was made
        sys.exit(143)


if __name__ == "__main__":
    main(sys.argv[1:])
