import subprocess
import sys

import pytest

from nasdqn.cli import main
from nasdqn.records import read_run

FAST = ["--steps", "600", "--learning-starts", "100", "--eval-every", "300", "--eval-episodes", "2", "--horizon", "100"]


def test_help_shows_every_option_with_default_and_help_text():
    out = subprocess.run([sys.executable, "-m", "nasdqn.cli", "train", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "--search-interval" in out.stdout and "(default: 10)" in out.stdout
    assert "episodes between controller decisions" in out.stdout


def test_train_writes_a_valid_run_and_refuses_to_overwrite_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--method", "nas", *FAST, "--out", str(out), "--quiet"]) == 0
    assert read_run(out).config.method == "nas"
    assert main(["train", "--method", "nas", *FAST, "--out", str(out), "--quiet"]) == 2
    assert "already holds a finished run" in capsys.readouterr().err
    assert main(["train", "--method", "nas", *FAST, "--out", str(out), "--quiet", "--force"]) == 0


@pytest.mark.parametrize("args,match", [
    (["--env", "NoSuch-v0"], "unknown environment"), (["--method", "dqn"], "unknown method"),
    (["--method", "fixed:relu-64y64"], "not of the form"), (["--steps", "-1"], "steps"),
    (["--seed", "99999999999"], "seed"), (["--steps", "ten"], "not a valid int"),
    (["--env", "Pendulum-v1"], "continuous actions"),
    (["--method", "racing", "--race-size", "30"], "race_size 30: allowed 2..24"),
    (["--method", "racing", "--race-confidence", "1.5"], "race_confidence 1.5: allowed (0, 1)"),
    (["--method", "racing", "--race-deadline", "1.2"], "race_deadline 1.2: allowed (0, 1)"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, args, match):
    assert main(["train", *args, "--root", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("where", ["proc", "file"])
def test_unwritable_output_is_refused(tmp_path, capsys, where):
    # /proc refuses new files even to root (CI runs as root, so permission bits would prove nothing).
    if where == "file":
        (tmp_path / "plain").write_text("x")
        out = tmp_path / "plain" / "run"
    else:
        out = "/proc/nasdqn-test/run"
    assert main(["train", *FAST, "--out", str(out)]) == 2
    assert "not writable" in capsys.readouterr().err


@pytest.mark.parametrize("args,match", [(["--jobs", "0"], "need at least 1"), (["nowhere"], "has no _config.yml")])
def test_book_refuses_bad_input_in_one_line(tmp_path, capsys, args, match):
    assert main(["book", *args, "--out", str(tmp_path / "html")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err
    assert not (tmp_path / "html").exists()
