"""The product refuses to start in production on the shipped or a weak SECRET_KEY."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tenants.secret_key import DEVELOPMENT_SECRET_KEY

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = "q7Vn2-xY0pLk9Rm4Tz8Ws1Hb6Jc3Fd5Ga0Ue7Io2Np9Kq4Lr8Ms_1"


def _check_deploy(**env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "SECRET_KEY is the public development key."),
        (DEVELOPMENT_SECRET_KEY, "SECRET_KEY is the public development key."),
        ("short-but-random-9f3a", "SECRET_KEY is too weak: it needs at least 50 characters"),
        ("ab" * 40, "SECRET_KEY is too weak: it needs at least 50 characters, 5 of them"),
        ("", "SECRET_KEY is not set."),
    ],
)
def test_production_refuses_a_bad_secret_key(key, message):
    result = _check_deploy(DEBUG="0", **({} if key is None else {"SECRET_KEY": key}))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr


def test_production_accepts_a_good_secret_key():
    result = _check_deploy(DEBUG="0", SECRET_KEY=GOOD_KEY)
    output = result.stdout + result.stderr
    assert "SECRET_KEY" not in output
    assert "helpdesk.E001" not in output
    assert "ImproperlyConfigured" not in output


def test_deploy_check_reports_the_development_key_with_debug_on():
    result = _check_deploy(DEBUG="1")
    assert result.returncode == 1
    assert "(helpdesk.E001) SECRET_KEY is the public development key." in result.stderr


def test_development_starts_on_the_development_key():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "SECRET_KEY"}, "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stdout.strip()) == (
        0,
        "System check identified no issues (0 silenced).",
    )
