"""What the machine or the data can do to a run — corrupt earlier artifacts, an unwritable or full disk, bad
rows, NaN — each ends in one `error:` line naming the path, exit 2, and leaves earlier stages intact."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from align.artifacts.integrity import verify_checksums
from align.cli import main
from align.stages import training


def sft(name: str, data: Path, **extra) -> dict:
    return {
        "name": name,
        "kind": "sft",
        "data": str(data),
        "max_steps": 2,
        "batch_size": 2,
        "max_length": 64,
        "report_to": [],
        **extra,
    }


def write_recipe(path: Path, model: str, stages: list[dict]) -> Path:
    path.write_text(
        yaml.safe_dump({"name": "failures", "model": model, "lora": {"r": 4, "alpha": 8}, "stages": stages})
    )
    return path


def error_lines(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error: ")]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, tiny_model: str) -> tuple[Path, Path]:
    """A recipe of two SFT stages whose first one has completed."""
    folder = tmp_path_factory.mktemp("failures")
    chat = folder / "chat.jsonl"
    chat.write_text("".join(json.dumps({"prompt": f"{i}?", "completion": f"{i}."}) + "\n" for i in range(8)))
    recipe = write_recipe(folder / "r.yaml", tiny_model, [sft("first", chat), sft("second", chat, init="first")])
    assert main(["run", str(recipe), "--run-dir", str(folder / "run"), "--until", "first"]) == 0
    return recipe, folder / "run"


@pytest.fixture
def run_copy(finished: tuple[Path, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(finished[1], tmp_path / "run"))


def test_truncated_adapter_of_a_finished_stage_is_caught_by_its_checksum(finished, run_copy: Path, capsys):
    adapter = run_copy / "first" / "adapter_model.safetensors"
    adapter.write_bytes(adapter.read_bytes()[:100])
    assert main(["run", str(finished[0]), "--run-dir", str(run_copy)]) == 2
    assert error_lines(capsys) == [
        f"error: {adapter}: does not match the checksum in {run_copy / 'first' / 'manifest.json'} (corrupt or "
        f"edited); delete {run_copy / 'first'} to re-run the stage"
    ]
    assert not (run_copy / "second").exists()  # caught before the next stage started


def test_missing_adapter_config_is_named(finished, run_copy: Path, capsys):
    (run_copy / "first" / "adapter_config.json").unlink()
    assert main(["run", str(finished[0]), "--run-dir", str(run_copy)]) == 2
    config = run_copy / "first" / "adapter_config.json"
    assert error_lines(capsys) == [
        f"error: {config}: missing from the completed stage 'first'; delete {run_copy / 'first'} to re-run it"
    ]


def test_run_dir_that_cannot_be_created_is_one_line(finished, tmp_path: Path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["run", str(finished[0]), "--run-dir", str(blocker / "run")]) == 2
    assert error_lines(capsys) == [f"error: {blocker / 'run'}: cannot create or write the run folder (Not a directory)"]


def test_full_disk_mid_stage_stops_it_and_spares_the_earlier_stage(
    finished, run_copy: Path, capsys, monkeypatch: pytest.MonkeyPatch
):
    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(training, "write_json_atomic", full)
    assert main(["run", str(finished[0]), "--run-dir", str(run_copy)]) == 2
    history = run_copy / "second" / "log_history.json"
    assert error_lines(capsys) == [
        f"error: {history}: No space left on device — the stage stopped; free space or fix permissions and re-run "
        "the same command to resume"
    ]
    assert not (run_copy / "second" / "COMPLETE").exists()
    manifest = json.loads((run_copy / "first" / "manifest.json").read_text())
    verify_checksums(run_copy / "first", manifest["checksums"])  # untouched


def test_non_utf8_sft_row_is_one_line(tiny_model: str, tmp_path: Path, capsys):
    data = tmp_path / "sft.jsonl"
    data.write_bytes(b'{"prompt": "a", "completion": "b"}\n{"prompt": "\xff", "completion": "b"}\n')
    recipe = write_recipe(tmp_path / "r.yaml", tiny_model, [sft("sft", data)])
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "run")]) == 2
    assert error_lines(capsys) == [f"error: {data}:2: not UTF-8 (byte 0xff at column 13)"]


def test_strict_turns_over_long_rows_into_an_error(tiny_model: str, chat_file: Path, tmp_path: Path, capsys):
    stage = sft("sft", chat_file, max_length=8)
    stage["data"] = {"path": str(chat_file), "strict": True}
    recipe = write_recipe(tmp_path / "r.yaml", tiny_model, [stage])
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "run")]) == 2
    assert error_lines(capsys) == [
        f"error: {chat_file}: row 1: longer than max_length=8 tokens (16 such rows; strict: true on the data spec "
        "makes this an error instead of cutting them)"
    ]


@pytest.fixture(scope="module")
def nan_model(tiny_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("nan-llama")
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight[0, 0] = float("nan")  # every loss and gradient is NaN
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(folder)
    return str(folder)


def test_nan_stops_with_a_resumable_checkpoint(nan_model: str, chat_file: Path, tmp_path: Path, capsys):
    recipe = write_recipe(tmp_path / "r.yaml", nan_model, [sft("sft", chat_file)])
    run = tmp_path / "run"
    assert main(["run", str(recipe), "--run-dir", str(run)]) == 2
    assert error_lines(capsys) == [
        f"error: stages.sft: loss or gradient became NaN/inf at step 1; stopped with a checkpoint in "
        f"{run / 'sft' / 'checkpoints'} (lower learning_rate or set on_nonfinite: skip, then re-run to resume)"
    ]
    assert (run / "sft" / "checkpoints" / "checkpoint-1" / "trainer_state.json").is_file()
    assert not (run / "sft" / "COMPLETE").exists()


def test_nan_steps_can_be_skipped_and_counted(nan_model: str, chat_file: Path, tmp_path: Path):
    recipe = write_recipe(tmp_path / "r.yaml", nan_model, [sft("sft", chat_file, on_nonfinite="skip")])
    run = tmp_path / "run"
    assert main(["run", str(recipe), "--run-dir", str(run)]) == 0
    manifest = json.loads((run / "sft" / "manifest.json").read_text())
    assert manifest["metrics"]["nonfinite_steps_skipped"] == 2
    lora_b = [t for k, t in load_file(run / "sft" / "adapter_model.safetensors").items() if "lora_B" in k]
    assert lora_b and all(bool((t == 0).all()) for t in lora_b)  # no bad step reached the weights


@pytest.mark.parametrize("strict", [False, True])
def test_dpo_counts_pairs_it_cuts_and_strict_refuses_them(run_copy: Path, finished, tmp_path: Path, capsys, strict):
    pairs = tmp_path / "pairs.jsonl"
    long = " ".join(["word"] * 200)
    rows = [
        {"prompt": "Say it.", "chosen": "Fine.", "rejected": long},
        {"prompt": "Hi.", "chosen": "Hi", "rejected": "No"},
    ]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    dpo = {"name": "dpo", "kind": "dpo", "init": "first", "pairs": {"path": str(pairs), "strict": strict}}
    dpo |= {"max_steps": 1, "max_length": 128, "report_to": []}
    recipe = yaml.safe_load(finished[0].read_text())
    recipe["stages"] = [recipe["stages"][0], dpo]
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    code = main(["run", str(path), "--run-dir", str(run_copy)])
    if strict:
        assert code == 2
        assert error_lines(capsys) == [
            f"error: {pairs}: row 1: longer than max_length=128 tokens (1 such rows; strict: true on the data spec "
            "makes this an error instead of cutting them)"
        ]
    else:
        assert code == 0
        assert json.loads((run_copy / "dpo" / "manifest.json").read_text())["metrics"]["truncated_rows"] == 1
