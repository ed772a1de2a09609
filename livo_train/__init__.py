"""LiVO value-encoder training on the shards built by pipeline/.

config (TrainConfig, YAML + overrides) · loss (livo_loss, dpo_loss) · model (value encoder,
conditioning) · data (prepare cache, PreferenceDataset) · trainer (LiVOTrainer) ·
pipeline (LiVOPipeline) · evaluate (`livo eval`) · model_card · cli (`livo train`, `livo eval`).
"""
