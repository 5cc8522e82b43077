"""Content-addressed artifact store over fsspec."""
