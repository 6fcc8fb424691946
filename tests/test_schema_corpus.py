"""The editor schema and `lmsform validate` agree, file by file, on a corpus of manifests.

Each file under fixtures/schema_corpus/ is one manifest, self-contained (it declares what it
refers to), whose first comment says what it tests; an invalid one also says, in a comment
`# expect: ...`, what validate's message holds. The schema's verdict is the real
check-jsonschema command's (run once for the whole corpus, reading its per-file verdicts);
validate's is the real command's, on a scratch config directory holding the file alone, with
a minimal lmsform.yaml beside it (or as the lmsform.yaml, when it holds a provider block).
What JSON Schema cannot express is listed in lmsform/schema.py's docstring, not here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lmsform.schema import manifest_schema
from tests.support import lmsform

CORPUS = Path(__file__).parent / "fixtures" / "schema_corpus"
VALID = sorted((CORPUS / "valid").glob("*.yaml"))
INVALID = sorted((CORPUS / "invalid").glob("*.yaml"))
CHECKER = Path(sys.executable).with_name("check-jsonschema")
# The environment the corpus runs in: the references it uses, set or unset on purpose.
ENVIRONMENT = {"LMSFORM_CORPUS_FLAG": "true", "LMSFORM_CORPUS_COUNT": "25",
               "LMSFORM_CORPUS_FRACTION": "0.5", "LMSFORM_CORPUS_NAME": "Staff",
               "LMSFORM_CORPUS_CURRENCY": "usd", "LMSFORM_CORPUS_FIELD": "description"}
PROVIDER_BLOCK = re.compile(r"^provider:", re.MULTILINE)


@pytest.fixture(scope="module")
def schema_verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """check-jsonschema's errors for every corpus file, by file name, from one run."""
    work = tmp_path_factory.mktemp("schema")
    schema = work / "schema.json"
    result = lmsform("schema")
    assert result.exit_code == 0, result.output
    schema.write_text(result.output)
    assert json.loads(result.output) == manifest_schema()
    run = subprocess.run([str(CHECKER), "--schemafile", str(schema), "--output-format", "json",
                          *map(str, VALID + INVALID)],
                         capture_output=True, text=True, check=False, timeout=300)
    report: dict[str, Any] = json.loads(run.stdout)
    assert report["parse_errors"] == [], report["parse_errors"]
    verdicts: dict[str, list[str]] = {str(path): [] for path in VALID + INVALID}
    for error in report["errors"]:
        deepest = error.get("best_deep_match") or error
        verdicts[error["filename"]].append(f"{deepest['path']}: {deepest['message']}")
    return verdicts


def validate(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """`lmsform validate` on a directory holding the file alone (and a provider)."""
    monkeypatch.delenv("LMSFORM_CORPUS_UNSET", raising=False)
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    text = path.read_text()
    if PROVIDER_BLOCK.search(text):
        (tmp_path / "lmsform.yaml").write_text(text)
    else:
        (tmp_path / "lmsform.yaml").write_text("provider: {type: local}\n")
        (tmp_path / path.name).write_text(text)
    monkeypatch.chdir(tmp_path)  # a relative state path stays in the scratch directory
    result = lmsform("validate", "-C", str(tmp_path))
    return result.exit_code, result.output


def test_the_corpus_covers_enough() -> None:
    assert len(VALID) + len(INVALID) >= 40
    for path in VALID + INVALID:
        assert path.read_text().startswith("# "), f"{path.name}: say what it tests"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_both_accept(path: Path, schema_verdicts: dict[str, list[str]], tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    code, output = validate(path, tmp_path, monkeypatch)
    assert code == 0, output
    assert schema_verdicts[str(path)] == []


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_both_reject_for_the_reason_named(path: Path, schema_verdicts: dict[str, list[str]],
                                          tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    expected = re.search(r"^# expect: (.+)$", path.read_text(), re.MULTILINE)
    assert expected, f"{path.name}: say what validate's message holds (# expect: ...)"
    code, output = validate(path, tmp_path, monkeypatch)
    assert code != 0, output
    assert expected.group(1) in output, output
    assert schema_verdicts[str(path)] != [], "the schema accepts it"
