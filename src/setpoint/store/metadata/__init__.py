"""The metadata database: engine, tables, migrations and one repository per domain."""
