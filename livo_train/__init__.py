"""LiVO value-encoder training on the shards built by pipeline/ (see its issue)."""
