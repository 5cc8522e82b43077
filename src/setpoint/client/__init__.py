"""SDK backends: local (the store directly) and remote (a setpoint server over HTTP)."""
