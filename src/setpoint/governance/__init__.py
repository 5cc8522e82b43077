"""Governance: who may do what (tokens now; users, roles and the audit log as they come)."""
