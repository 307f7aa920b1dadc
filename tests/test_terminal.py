"""The terminal experience (issue 11): help, -q, errors that name the cause, --json
errors, narrow tables, the install name."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest
from rich.console import Console

from mlstack_env.cli import main
from mlstack_env.cli.tables import print_table
from mlstack_env.fetch.config import UserConfig, mirror_advice

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_distribution_is_mlstack_env_and_provides_the_command() -> None:
    dist = metadata.distribution("mlstack-env")
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {"mlstack": "mlstack_env.cli:main"}


def test_bare_mlstack_prints_help_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Usage: mlstack [OPTIONS] COMMAND [ARGS]...")
    assert "env " in out and "completion " in out
    assert err == ""


def test_group_without_subcommand_prints_its_help_on_stdout(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Usage: mlstack env [OPTIONS] COMMAND [ARGS]...")
    assert err == ""


def test_top_level_help_is_not_cut_at_80_columns(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    commands = out.split("Commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(commands) >= 9
    for line in commands:
        assert not line.endswith("..."), line
        assert len(line) <= 80, line


def test_every_command_has_an_example() -> None:
    from mlstack_env.cli.app import full_command

    def walk(command: object, path: str) -> list[str]:
        missing = []
        for name, sub in (getattr(command, "commands", None) or {}).items():
            full = f"{path} {name}".strip()
            if not (sub.epilog or "").startswith("Example"):
                missing.append(full)
            missing += walk(sub, full)
        return missing

    assert walk(full_command(), "") == []


def test_help_shows_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "create", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples:\n\n    mlstack env create minimal\n" in out


@pytest.mark.parametrize("args", [["-q", "env", "list"], ["env", "list", "-q"],
                                  ["env", "-q", "list", "--json"]])
def test_quiet_is_global_anywhere_before_dashdash(args: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 0
    _out, err = capsys.readouterr()
    assert err == ""


def test_quiet_before_env_run_keeps_the_fast_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "env", "run", "nope", "--", "true"]) == 1
    assert capsys.readouterr().err.startswith("error: no env named 'nope'")


def test_errors_honour_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "info", "nope", "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {
        "error": "no env named 'nope'",
        "hint": "there are no envs yet; `mlstack env create PROFILE` makes one",
    }
    assert err.startswith("error: no env named 'nope'\n")


def test_usage_errors_honour_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "--jsn", "--json"]) == 1
    out, _err = capsys.readouterr()
    assert json.loads(out) == {"error": "No such option: --jsn (Possible options: --json)",
                               "hint": "see `mlstack detect --help`"}


def test_lock_unknown_profile_outside_a_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["lock", "minimall"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: unknown profile 'minimall' (no mlstack.toml here defines profiles)",
        "hint: did you mean 'minimal'? known profiles: inference, minimal, training",
    ]


def test_remove_unknown_env_lists_the_envs(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from mlstack_env.store import generations

    class Env:
        def __init__(self, name: str) -> None:
            self.name = name

    monkeypatch.setattr(generations, "all_envs", lambda: [Env("demo"), Env("train")])
    assert main(["env", "remove", "dmeo"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: no env named 'dmeo'",
        "hint: did you mean 'demo'? existing envs: demo, train",
    ]


# --- tables -----------------------------------------------------------------------------

HEADERS = ("#", "GPU", "gfx", "PCI id", "VRAM", "kind", "wheels", "official")
ROWS = [
    ["0", "Radeon 780M / 760M", "gfx1103", "0x15bf", "512.0 MiB", "integrated (left out)",
     "override 11.0.0", "no"],
    ["1", "Radeon RX 7800 XT / 7700 XT", "gfx1101", "0x747e", "16.0 GiB", "discrete",
     "native", "no"],
]


def _render(width: int, terminal: bool) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=terminal, no_color=True,
                      color_system=None)
    print_table(console, HEADERS, ROWS, heading=2)
    return buf.getvalue()


def test_narrow_terminal_stacks_fields() -> None:
    out = _render(60, terminal=True)
    assert out.splitlines()[:3] == ["0  Radeon 780M / 760M", "  gfx       gfx1103",
                                    "  PCI id    0x15bf"]
    assert "  kind      integrated (left out)" in out.splitlines()
    assert "1  Radeon RX 7800 XT / 7700 XT" in out.splitlines()
    assert all(len(line) <= 60 for line in out.splitlines())


def test_wide_terminal_keeps_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")  # rich gives a dumb terminal 80 columns
    lines = _render(120, terminal=True).splitlines()
    assert lines[0].split() == ["#", "GPU", "gfx", "PCI", "id", "VRAM", "kind", "wheels",
                                "official"]
    assert "gfx1101" in lines[2]


def test_piped_output_is_not_wrapped_and_has_no_padding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS")
    out = _render(40, terminal=False)  # a pipe has no width: columns, never wrapped
    lines = out.splitlines()
    assert len(lines) == 3
    assert "integrated (left out)" in lines[1]
    assert all(line == line.rstrip() for line in lines)


def test_detect_on_a_narrow_pipe(fake_machine: Callable[[str], Path], cli: Cli) -> None:
    fake_machine("7800xt-780m")
    r = cli("detect", env={"COLUMNS": "60"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "  gfx       gfx1101" in lines and "  gfx       gfx1103" in lines
    assert all(line == line.rstrip() for line in lines)


# --- unreachable hosts ------------------------------------------------------------------


def test_mirror_advice_names_the_uncovered_hosts(tmp_path: Path) -> None:
    config = UserConfig(mirrors={"https://pypi.org/simple": "https://m.example/pypi/simple"},
                        path=tmp_path / "config.toml")
    hint = mirror_advice(["https://download.pytorch.org/whl/rocm6.4", "https://pypi.org/simple"],
                         config)
    assert hint.splitlines() == [
        "no [mirrors] entry covers download.pytorch.org, files.pythonhosted.org: check the "
        f"network, or add to {tmp_path / 'config.toml'} (with your mirror's URLs; see "
        "docs/team.md):",
        "[mirrors]",
        '"https://download.pytorch.org/" = "https://MIRROR.example/pytorch/"',
        '"https://files.pythonhosted.org/" = "https://MIRROR.example/pythonhosted/"',
    ]


def test_mirror_advice_when_every_host_is_mirrored() -> None:
    config = UserConfig(mirrors={"https://download.pytorch.org/": "https://m.example/pt/"})
    assert mirror_advice(["https://download.pytorch.org/whl/rocm6.4"], config).endswith(
        "are reachable: https://m.example/pt/")
    assert "check the network" in mirror_advice(["https://download.pytorch.org/"], config)
