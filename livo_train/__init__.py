"""LiVO value-encoder training on the shards built by pipeline/.

config (TrainConfig, YAML + overrides; TrainingError, EvalError) · loss (livo_loss, dpo_loss) ·
model (value encoder, conditioning; which base model a run trains, load_base) · data (VAE pixels,
PreferenceDataset, EpochOrder, a step's random draws) · cache (prepare cache, PairCache) ·
checkpoints · metrics · outputs (the output folder, write_final, the model card) · trainer
(LiVOTrainer) · pipeline (LiVOPipeline) · evaluate (`livo eval`: EvalConfig, run_eval, the
metrics, eval.html and the summary table) · cli (`livo train`, `livo eval`).

A run folder is read only through pipeline.run (RunPaths, run_hash_of); pipeline/ never
imports livo_train (except pipeline/cli.py, which registers the training commands).
"""
