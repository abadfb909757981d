"""The compose file is valid Compose, and every command it runs exists in the project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from click.testing import CliRunner

from services.cli import main

ROOT = Path(__file__).parents[1]
# The Compose specification's schema, as shipped in the project's shared material.
SCHEMA = ROOT / "tests" / "data" / "compose-spec.schema.json"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_file_matches_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    # The schema names draft-07 without the trailing "#", so pick the validator explicitly.
    jsonschema.Draft7Validator(schema).validate(compose())


def test_every_long_running_service_has_a_health_check_and_ordered_start() -> None:
    services = compose()["services"]
    for name, service in services.items():
        if service.get("restart") == "no":
            continue
        assert "healthcheck" in service, f"{name} has no health check"
    conditions = {
        condition["condition"] for service in services.values() for condition in service.get("depends_on", {}).values()
    }
    assert {"service_healthy", "service_completed_successfully"} <= conditions


def test_every_liaison_command_exists() -> None:
    runner = CliRunner()
    services = compose()["services"]
    commands = [service["command"] for service in services.values() if service.get("command", [""])[0] == "liaison"]
    commands += [
        service["healthcheck"]["test"][1:]
        for service in services.values()
        if service.get("healthcheck", {}).get("test", [None, None])[1] == "liaison"
    ]
    assert len(commands) >= 6
    for command in commands:
        words = [w for w in command[1:] if not w.startswith("-")][:2]
        result = runner.invoke(main, [*words[:2], "--help"] if words else ["--help"])
        assert result.exit_code == 0, (command, result.output)
        # Options must exist too: click refuses unknown ones.
        options = [w for w in command[1:] if w.startswith("--")]
        for option in options:
            assert option in result.output, (command, option)


def test_dockerfile_runs_as_a_non_root_user_in_a_slim_final_stage() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    final = dockerfile.split("FROM ")[-1]
    assert "USER liaison" in final
    assert "gcc" not in final
    assert "build-essential" not in final
    assert dockerfile.count("FROM ") >= 2


def test_env_example_lists_every_setting() -> None:
    from services.content.settings import Settings

    example = (ROOT / ".env.example").read_text()
    for field in Settings.__struct_fields__:
        assert f"LIAISON_{field.upper()}=" in example, field
