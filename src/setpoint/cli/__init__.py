"""The ``setpoint`` command line: one module per command group, loaded only when used."""
