"""Every message of ours has its Chinese translation: the catalog is made again from the sources
(Django's makemessages, in a copy of the project) and none of its messages may be left without a
translation or marked fuzzy (a guess made by the merge, not a translation)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATALOG = Path("locale/zh_Hans/LC_MESSAGES/django.po")


def msgids(po_text: str) -> list[str]:
    return [m for m in re.findall(r'^msgid "(.*)"$', po_text, flags=re.M) if m]


def test_every_message_of_ours_has_its_chinese_translation(tmp_path):
    assert shutil.which("xgettext") and shutil.which("msgattrib"), "GNU gettext is needed (.ci/run installs it)"
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT, copy,
        ignore=shutil.ignore_patterns(".venv", ".git", "artifacts", "*.sqlite3", ".pytest_cache", ".hypothesis", "__pycache__", "benchmarks", "e2e", "tests", "conftest.py"),
    )
    made = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-obsolete"],
        cwd=copy, capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert made.returncode == 0, made.stderr
    catalog = copy / CATALOG
    untranslated = subprocess.run(["msgattrib", "--untranslated", "--no-obsolete", str(catalog)], capture_output=True, text=True, check=True).stdout
    fuzzy = subprocess.run(["msgattrib", "--only-fuzzy", "--no-obsolete", str(catalog)], capture_output=True, text=True, check=True).stdout
    assert msgids(untranslated) == [], "no Chinese translation in locale/zh_Hans/LC_MESSAGES/django.po (run makemessages, translate, compilemessages)"
    assert msgids(fuzzy) == [], "fuzzy, not translated, in locale/zh_Hans/LC_MESSAGES/django.po"
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(compiled), str(ROOT / CATALOG)], check=True)
    assert compiled.read_bytes() == (ROOT / CATALOG).with_suffix(".mo").read_bytes(), "django.mo is not compiled from django.po (run compilemessages)"


def test_django_import_exports_scrambled_chinese_message_reads_right():
    from django.utils import translation

    with translation.override("zh-hans"):
        assert translation.gettext("Some rows failed to validate") == "某些行数据验证失败"
