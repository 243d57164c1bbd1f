"""The artifact contract: manifests round-trip typed, bad ones read as unfinished, every kind has its file list."""

from __future__ import annotations

from pathlib import Path

from align.artifacts.contract import KIND_FILES, MANIFEST, MARKER, Manifest, is_complete, mark_complete, read_manifest
from align.config.schema import STAGE_TYPES


def test_manifest_round_trips_and_keeps_keys_a_newer_align_added(tmp_path: Path):
    manifest = Manifest(name="sft", kind="sft", fingerprint="f1", config={"init": "base"}, lora={"r": 8}, extra=1)
    mark_complete(tmp_path, manifest)
    read = read_manifest(tmp_path)
    assert read == manifest
    assert (read.init, read.lora_rank, read.model_extra) == ("base", 8, {"extra": 1})
    assert (tmp_path / MARKER).read_text().strip() == "f1"
    assert is_complete(tmp_path, "f1") and not is_complete(tmp_path, "f2")


def test_unreadable_manifest_counts_as_unfinished(tmp_path: Path):
    (tmp_path / MARKER).write_text("f1\n")
    (tmp_path / MANIFEST).write_text('{"name": "sft"}')  # no kind, no fingerprint
    assert read_manifest(tmp_path) is None and not is_complete(tmp_path)
    (tmp_path / MANIFEST).write_text("{not json")
    assert read_manifest(tmp_path) is None


def test_every_stage_kind_declares_its_files():
    assert set(KIND_FILES) == set(STAGE_TYPES)
