# SPDX-License-Identifier: BSD-2-Clause
"""``python -m golden``: train with a progress bar, eval, generate, info, report, errors."""

import json

import pytest

from golden.__main__ import main

TINY = ["--family", "b158", "--dim", "32", "--n-layers", "1", "--n-heads", "2", "--ffn-dim",
        "64", "--max-seq-len", "32", "--steps", "3", "--batch-size", "2", "--seq-len", "32",
        "--eval-every", "0", "--threads", "1", "--name", "cli"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    build = tmp_path_factory.mktemp("build")
    mp = pytest.MonkeyPatch()
    mp.setenv("ACCEL_BUILD_DIR", str(build))
    out = build / "cli.safetensors"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    yield build, out
    mp.undo()


def test_train_writes_checkpoint_log_and_result(trained, capsys):
    build, out = trained
    assert out.is_file()
    record = json.loads((build / "golden" / "results" / "cli.json").read_text())
    # The record keeps the evaluations and every tenth step; the log keeps every step.
    assert record["eval_path"] == "integer" and [h["step"] for h in record["history"]] == [3]
    assert len((build / "golden" / "logs" / "cli.jsonl").read_text().splitlines()) == 3
    assert main(["eval", str(out)]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["path"] == "integer" and ev["ppl"] == record["eval"]["ppl"]
    assert main(["eval", str(out), "--fake"]) == 0
    assert json.loads(capsys.readouterr().out)["ppl"] == record["eval"]["ppl"]


def test_train_shows_a_progress_bar(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACCEL_BUILD_DIR", str(tmp_path))
    args = [a if a != "3" else "2" for a in TINY]
    assert main(["train", *args, "--out", str(tmp_path / "m.safetensors")]) == 0
    err = capsys.readouterr().err
    assert "train b158" in err and "2/2" in err


def test_generate_greedy_and_sampled(trained, capsys):
    _, out = trained
    runs = []
    for extra in ([], [], ["--temperature", "0.8", "--seed", "4"],
                  ["--temperature", "0.8", "--seed", "4"]):
        assert main(["generate", str(out), "--prompt", "The for", "-n", "12", *extra]) == 0
        runs.append(capsys.readouterr().out)
    assert runs[0] == runs[1] and runs[2] == runs[3]
    assert all(r.startswith("The for") for r in runs)
    assert main(["generate", str(out), "--tokens", "1,2,3", "-n", "4"]) == 0
    assert len(capsys.readouterr().out.strip().split(",")) == 4


def test_info_export_import_and_report(trained, tmp_path, capsys):
    build, out = trained
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "layers.0.attn.q_proj" in text and "layers.0.mlp.down_proj" in text
    assert main(["export-hf", str(out), str(tmp_path / "hf")]) == 0
    assert main(["import-hf", str(tmp_path / "hf"), str(tmp_path / "back.safetensors")]) == 0
    capsys.readouterr()
    report = tmp_path / "RESULTS.md"
    # A custom run is not a run of the perplexity table (tests/golden/test_sweep.py renders one).
    assert main(["report", "--results", str(build / "golden" / "results"), "--out",
                 str(report), "--readme", ""]) == 2
    assert "no training results to render" in capsys.readouterr().err
    assert not report.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["generate", "{out}", "--prompt", ""], "error: the prompt is empty"),
    (["generate", "{out}", "--tokens", "1,x"], "error: --tokens must be comma-separated"),
    (["eval", "no-such-model"], "error: no checkpoint 'no-such-model'"),
    (["train", "--family", "b158", "--steps", "0"], "error: steps must be a positive integer"),
    (["train", "--preset", "tiny-onebit", "--teacher", "missing.safetensors"],
     "error: teacher checkpoint missing.safetensors does not exist"),
    (["report", "--results", "{empty}"], "error: no training results"),
])
def test_cli_errors_are_one_line(args, message, trained, tmp_path, capsys):
    _, out = trained
    args = [a.format(out=out, empty=tmp_path) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and "Traceback" not in err
