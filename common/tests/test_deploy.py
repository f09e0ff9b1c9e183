"""A production deployment passes Django's deployment checks with nothing but its own secrets set."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings


def test_the_deploy_check_is_clean_with_production_settings():
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},  # the browser tests' setting, not a deployment's
        "DJANGO_PRODUCTION": "true", "DJANGO_SECRET_KEY": "k" * 20 + "-a-long-random-production-secret-0123456789",
        "DJANGO_ALLOWED_HOSTS": "members.example.com", "DJANGO_DEBUG": "false",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=Path(settings.BASE_DIR), env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout
