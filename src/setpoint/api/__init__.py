"""Every operation, defined once with typed arguments and results; clients and server use it."""
