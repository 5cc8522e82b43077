"""Data management: dataset versions, ingestion to Parquet, lineage of what runs consumed."""
