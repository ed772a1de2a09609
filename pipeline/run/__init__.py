"""The run folder contract: its layout (every name once), the atomic writer, the shard schema and
tables, the plan, the manifest and shard reports, validation and the dataset card."""
