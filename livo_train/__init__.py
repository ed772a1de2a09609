"""LiVO value-encoder training on the shards built by pipeline/.

config (TrainConfig, YAML + overrides) · loss (livo_loss, dpo_loss) · model (value encoder,
conditioning) · base_model (which base model a run trains) · images (VAE pixels) · cache
(prepare cache, PairCache) · dataset (PreferenceDataset) · sampler (EpochOrder) · noise (a
step's random draws) · checkpoints · metrics · outputs (the output folder) · trainer
(LiVOTrainer) · pipeline (LiVOPipeline) · evaluate (eval metrics) · eval_job (EvalConfig,
run_eval) · model_card · errors · cli (`livo train`, `livo eval`).

A run folder is read only through pipeline.run (RunPaths, run_hash_of); pipeline/ never
imports livo_train (except pipeline/cli.py, which registers the training commands).
"""
