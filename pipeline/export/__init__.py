"""A finished run in the layouts other tools train on (layouts: Pick-a-Pic v2 for Diffusion-DPO and
other Pick-a-Pic readers, LiVO's official training folders); `livo push` to the Hugging Face Hub (hub)."""
