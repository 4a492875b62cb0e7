"""Local path or Hugging Face Hub repo id -> files on this machine.

A checkpoint or a backbone weight file is named either by a local path or by a Hub repo id
(`owner/name`, optionally followed by a file path inside the repo); Hub files are fetched through
huggingface_hub's cache, so a machine that has them cached works offline (HF_HUB_OFFLINE=1).
Paths that start with '/', '.' or '~' are always local: a typo there is a FileNotFoundError,
never a surprise download.
"""
from __future__ import annotations

from pathlib import Path


def _is_local(source: str) -> bool:
    return source.startswith(('/', '.', '~')) or Path(source).expanduser().exists()


def resolve_dir(source: str | Path, *, revision: str | None = None,
                allow_patterns: list[str] | None = None) -> Path:
    """A directory: `source` itself if local, else a snapshot of the Hub repo `source`."""
    text = str(source)
    if _is_local(text):
        path = Path(text).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f'{text} is not a directory')
        return path
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id=text, revision=revision, allow_patterns=allow_patterns))


def resolve_file(source: str | Path, default_filename: str) -> Path:
    """A file: a local file, `default_filename` inside a local dir, or `owner/name[/path/in/repo]` on the Hub."""
    text = str(source)
    if _is_local(text):
        path = Path(text).expanduser()
        if path.is_dir():
            path = path / default_filename
        if not path.is_file():
            raise FileNotFoundError(f'no such file: {path}')
        return path
    parts = text.split('/')
    if len(parts) < 2:
        raise ValueError(f'{text!r} is neither a local path nor a Hub repo id (owner/name[/file])')
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id='/'.join(parts[:2]), filename='/'.join(parts[2:]) or default_filename))


def on_disk(source: str | Path, default_filename: str = 'model.safetensors') -> bool:
    """Whether `resolve_file(source, default_filename)` would succeed without the network (local or Hub cache)."""
    text = str(source)
    if _is_local(text):
        path = Path(text).expanduser()
        return (path / default_filename if path.is_dir() else path).is_file()
    parts = text.split('/')
    if len(parts) < 2:
        return False
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id='/'.join(parts[:2]), filename='/'.join(parts[2:]) or default_filename)
    return isinstance(cached, str)
