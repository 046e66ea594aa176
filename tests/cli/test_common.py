"""Options several commands share are defined once (edgecomp.cli.common), with one unit per name."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from edgecomp.cli.common import GATE_OPTIONS, OPTION_GROUPS, shared_options
from edgecomp.cli.main import app

runner = CliRunner()


def test_a_group_parameter_becomes_its_flags_and_reaches_the_command_as_one_dict():
    seen = {}
    demo = typer.Typer()

    @demo.command()
    @shared_options
    def command(name: str = typer.Option("x"), connection: dict = None, gates: dict = None) -> None:
        seen.update(name=name, connection=connection, gates=gates)

    result = runner.invoke(demo, ["--name", "y", "--host", "pi.local", "--port", "2222", "--min-accuracy", "85",
                                  "--gate-scope", "any"])
    assert result.exit_code == 0, result.output
    assert seen == {"name": "y", "connection": {"host": "pi.local", "port": 2222, "user": None, "key": None,
                                                "serial": None},
                    "gates": {"max_size_mb": None, "max_latency_ms": None, "min_accuracy": 85.0, "gate_scope": "any"}}


def test_every_command_shows_the_same_shared_flags():
    for command, groups in {"build": ["connection", "gates"], "bench": ["connection", "gates"],
                            "search": ["connection", "budget"], "report": ["gates"]}.items():
        text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        for group in groups:
            for kind, option in OPTION_GROUPS[group].values():
                assert option.param_decls[0] in text, (command, option.param_decls[0])
    assert OPTION_GROUPS["budget"]["min_accuracy"][1].help == GATE_OPTIONS["min_accuracy"][1].help


def test_min_accuracy_is_percent_for_gates_and_budget_alike(tmp_path):
    """A fraction is refused the same way by build's gate and search's budget, before any work."""
    for command in (["build", "--model", "cnn-tiny"], ["search", "--model", "cnn-tiny"]):
        result = runner.invoke(app, [*command, "--min-accuracy", "0.9", "--out", str(tmp_path / command[0])])
        assert result.exit_code == 2, result.output
        assert "--min-accuracy is in percent; 0.9 looks like a fraction. Pass 90 for 90 %." in result.output
        assert not (tmp_path / command[0]).exists()
