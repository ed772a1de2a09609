"""`livo push RUN REPO_ID`: a run as a Hugging Face Hub dataset repo, in one commit (the card's YAML
header makes the Hub and `load_dataset(REPO_ID)` read the shards with their image features).

What goes up: the card, the kept shards, the rejected pairs' tables, config.yaml and stats.json (the
card points at them), and with `include_report` the HTML report. `--dry-run` only lists them. Without
a token, or when the Hub cannot be reached, it stops with one line and nothing is uploaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.export.layouts import ExportError
from pipeline.run.layout import CONFIG_FILE, STATS_FILE, RunPaths, parquet_files


@dataclass(frozen=True)
class Upload:
    files: list[Path]  # relative to the run folder

    def total_bytes(self, root: Path) -> int:
        return sum((root / f).stat().st_size for f in self.files)


def upload_list(run: str | Path, include_report: bool = False) -> Upload:
    paths = RunPaths(Path(run))
    if not paths.card.exists():
        raise ExportError(f"{run} has no {paths.card.name}: not a finished run (run `livo shards` into it first)")
    files = [paths.card, *paths.shard_files(), *parquet_files(paths.rejected)]
    files += [p for p in (paths.root / CONFIG_FILE, paths.root / STATS_FILE) if p.exists()]
    if include_report:
        if not paths.report.exists():
            raise ExportError(f"{paths.report} does not exist: write it with `livo report {run}` or drop --report")
        files.append(paths.report)
    return Upload([f.relative_to(paths.root) for f in files])


def push(run: str | Path, repo_id: str, upload: Upload, private: bool = True) -> str:
    """Upload `upload` into the dataset repo `repo_id` (created when missing); returns the commit URL."""
    import huggingface_hub as hf

    token = hf.get_token()
    if not token:
        raise ExportError("no Hugging Face token: run `hf auth login` or set HF_TOKEN; nothing was uploaded")
    api = hf.HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(run), repo_id=repo_id, repo_type="dataset",
                                 allow_patterns=[f.as_posix() for f in upload.files],
                                 commit_message=f"livo push {Path(run).name}")
    except Exception as e:  # offline, refused token, unknown repo...: one line says which
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ExportError(f"could not push to the Hub ({type(e).__name__}: {first}); nothing was uploaded: check the "
                          f"network (HF_ENDPOINT) and that your token may write to {repo_id}, then run livo push again") from e
    return str(getattr(info, "commit_url", info))
