"""Foundation storage: the metadata database (tables, bytes-free) and the artifact blob store."""
