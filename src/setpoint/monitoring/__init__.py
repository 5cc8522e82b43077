"""Monitoring: what the models see in production, and the alerts it raises."""
