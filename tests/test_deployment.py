"""The compose file is valid Compose, and every command it runs exists in the project."""

from __future__ import annotations

import json
import re
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


def test_the_liaison_image_is_built_by_one_service_and_run_by_the_others() -> None:
    """`build:` on every Liaison service would build the same image once per service."""
    services = compose()["services"]
    builders = [name for name, service in services.items() if "build" in service]
    assert builders == ["migrate"]
    image = services["migrate"]["image"]
    runners = sorted(name for name, service in services.items() if service.get("image") == image)
    assert runners == ["agent", "content", "migrate", "seed", "sync"]
    # Nothing to pull: without these, `up` asks a registry for liaison:local for each of them.
    assert services["migrate"]["pull_policy"] == "build"
    assert all(services[name]["pull_policy"] == "never" for name in runners if name != "migrate")
    # The image exists before they are created: each depends on the builder, directly or not.
    for name in runners:
        chain, seen = [name], set()
        while chain:
            current = chain.pop()
            seen.add(current)
            chain += [dep for dep in services[current].get("depends_on", {}) if dep not in seen]
        assert "migrate" in seen, name


def test_the_dockerfile_needs_no_frontend_image() -> None:
    """A `# syntax=` line makes BuildKit pull a frontend image from a registry before building."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert not any(line.lower().startswith("# syntax=") for line in dockerfile.splitlines())


def test_the_site_does_not_fill_the_agents_volume_with_root_owned_files() -> None:
    """Docker copies the first mounter's files and owner into an empty volume: that must be the agent."""
    services = compose()["services"]
    site_mount = next(m for m in services["site"]["volumes"] if isinstance(m, dict) and m["source"] == "site-files")
    assert site_mount["type"] == "volume"
    assert site_mount["read_only"] is True
    assert site_mount["volume"]["nocopy"] is True
    assert services["agent"]["volumes"] == ["site-files:/srv/site"]
    assert services["agent"]["user"] == "10001"
    # The agent's mount point in the image belongs to uid 10001, and that is what the volume gets.
    final = (ROOT / "Dockerfile").read_text().split("FROM ")[-1]
    assert "--uid 10001" in final
    assert "chown liaison /srv/site" in final


def test_the_site_never_serves_dot_files() -> None:
    """The agent's state and temporary files are dot-files in the folder the site serves."""
    site = compose()["services"]["site"]
    assert "./deploy/site.conf:/etc/nginx/conf.d/default.conf:ro" in site["volumes"]
    conf = (ROOT / "deploy" / "site.conf").read_text()
    code = "\n".join(line.split("#")[0] for line in conf.splitlines())
    denied = re.search(r"location\s+~\s+/\\\.\s*\{\s*(return\s+40[34]|deny\s+all)\s*;\s*\}", code)
    assert denied, "no `location ~ /\\. { return 404; }` in deploy/site.conf"
    assert "root /usr/share/nginx/html;" in code
    assert "autoindex on" not in code


def test_liaison_containers_get_the_gateways_address_as_public_url() -> None:
    """Inside the Compose network the API is http://gateway:8000; a ${...} default would not be."""
    services = compose()["services"]
    for name in ("migrate", "seed", "content", "sync", "agent"):
        assert services[name]["environment"]["LIAISON_PUBLIC_URL"] == "http://gateway:8000", name


def test_published_ports_can_move_without_liaison_settings() -> None:
    """The port variables are not LIAISON_* names: .env reaches the containers, which refuse unknown ones."""
    services = compose()["services"]
    assert services["gateway"]["ports"] == ["${GATEWAY_PORT:-8000}:8000"]
    assert services["site"]["ports"] == ["${SITE_PORT:-8080}:80"]


def test_postgres_is_healthy_only_when_it_accepts_tcp_connections() -> None:
    """On its first start the image runs a socket-only server while it initialises the database."""
    test = compose()["services"]["postgres"]["healthcheck"]["test"]
    assert "-h 127.0.0.1" in " ".join(test)
