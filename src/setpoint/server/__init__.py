"""The setpoint server: the REST API generated from the operations table (and later the web UI)."""
