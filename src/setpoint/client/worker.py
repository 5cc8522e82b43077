"""A step worker process: reads pickled step tasks from one pipe, runs each, and writes the
outcome (or the step's error) to another. Started by the process executor as
``python -m setpoint.client.worker IN_FD OUT_FD``; stdout and stderr stay the user's.

Messages are an 8-byte big-endian length and that many bytes.
"""

from __future__ import annotations

import os
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
    """The error pickled as it is when it can be, else as a PipelineError with its text."""
    import cloudpickle

    from setpoint.core.errors import PipelineError

    try:
        return bytes(cloudpickle.dumps(("error", exc)))
    except Exception:
        text = f"{type(exc).__name__}: {exc}"
        return bytes(cloudpickle.dumps(("error", PipelineError(text, field="step"))))


def serve(tasks: IO[bytes], results: IO[bytes]) -> None:
    import cloudpickle

    from setpoint.client.executors import execute_payload

    while (message := read_message(tasks)) is not None:
        try:
            reply: Any = bytes(cloudpickle.dumps(("ok", execute_payload(message))))
        except BaseException as exc:
            reply = encode_error(exc)
        write_message(results, reply)


def main(argv: list[str]) -> None:
    tasks = os.fdopen(int(argv[0]), "rb")
    results = os.fdopen(int(argv[1]), "wb")
    serve(tasks, results)


if __name__ == "__main__":
    main(sys.argv[1:])
