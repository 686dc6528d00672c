"""docker-compose.yml stays valid and describes the production-like stack."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_file_has_the_whole_stack():
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = set(spec["services"])
    assert {"web", "worker", "beat", "postgres", "redis", "minio", "mailpit"} <= services
    env = spec["services"]["web"]["environment"]
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["REDIS_URL"].startswith("redis://")
    # An ASGI server: the live websockets share the pages' port (issue 14).
    assert "daphne" in spec["services"]["web"]["command"]
    assert "config.asgi:application" in spec["services"]["web"]["command"]


@pytest.mark.skipif(not shutil.which("docker-compose"), reason=".ci/run installs docker-compose")
def test_compose_config_validates():
    result = subprocess.run(
        ["docker-compose", "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (0, "")
