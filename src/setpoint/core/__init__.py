"""Types, errors, configuration, hashing, ids and the clock: pure code, no I/O."""
