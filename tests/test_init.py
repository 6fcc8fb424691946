"""`lmsform init`: a commented config directory, written from the provider's own settings
model, that `lmsform validate` accepts for every installed provider."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr
from ruamel.yaml import YAML

from lmsform import providers
from lmsform.providers.http import HttpOptions
from tests.support import lmsform

PROVIDERS = sorted(providers.available())


def provider_block(directory: Path) -> dict[str, object]:
    block: dict[str, object] = YAML(typ="safe").load(directory / "lmsform.yaml")["provider"]
    return block


@pytest.mark.parametrize("provider_type", PROVIDERS)
def test_init_then_validate_passes_once_placeholders_are_replaced(provider_type: str,
                                                      tmp_path: Path) -> None:
    directory = tmp_path / "lms"
    result = lmsform("init", "-C", str(directory), "--provider", provider_type)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in directory.iterdir()) == [".gitignore", "lmsform.yaml",
                                                         "users.yaml"]
    assert ".lmsform/" in (directory / ".gitignore").read_text().splitlines()
    refused = lmsform("validate", "-C", str(directory))
    block = provider_block(directory)
    placeholders = sorted(k for k, v in block.items() if "CHANGE-ME" in str(v))
    # each placeholder is named until it is replaced; then only the secrets' unset
    # variables are warnings
    for key in placeholders:
        assert f"provider.{key}: still holds the placeholder CHANGE-ME" in refused.output
    assert refused.exit_code == (1 if placeholders else 0), refused.output
    text = (directory / "lmsform.yaml").read_text()
    (directory / "lmsform.yaml").write_text(text.replace("CHANGE-ME", "school"))
    checked = lmsform("validate", "-C", str(directory))
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.startswith("The manifests are valid: ") and "1 user" in checked.stdout
    assert all(": warning: " in line for line in checked.stderr.splitlines())
    # what is written is already in the canonical layout
    assert lmsform("fmt", "--check", "-C", str(directory)).exit_code == 0


@pytest.mark.parametrize("provider_type", PROVIDERS)
def test_the_provider_block_follows_the_settings_model(provider_type: str,
                                                       tmp_path: Path) -> None:
    model = providers.load(provider_type).settings_model
    assert lmsform("init", "-C", str(tmp_path), "--provider", provider_type).exit_code == 0
    block = provider_block(tmp_path)
    text = (tmp_path / "lmsform.yaml").read_text()
    assert block["type"] == provider_type
    for name, info in model.model_fields.items():
        key = info.alias or name
        if name == "type":
            continue
        if not info.is_required():
            assert key not in block  # optional: a comment with its default
            assert re.search(rf"^  # {key}: ", text, re.MULTILINE), key
        elif info.annotation is SecretStr:
            variable = f"{provider_type}_{key}".upper()
            assert block[key] == f"${{env:{variable}}}"
        else:
            assert key in block, key
    listed = list(block)
    required = [info.alias or n for n, info in model.model_fields.items()
                if info.is_required() and n != "type"]
    assert listed == ["type", *required]  # required fields first, nothing else set
    assert ("# HTTP options" in text) == issubclass(model, HttpOptions)
    assert "\n#   backend: postgres\n#   dsn: ${env:LMSFORM_STATE_DSN}" in text


@pytest.mark.parametrize("provider_type", PROVIDERS)
def test_the_commented_defaults_are_true(provider_type: str, tmp_path: Path) -> None:
    """Uncommenting every option gives a valid block that means what leaving them out does."""
    model = providers.load(provider_type).settings_model
    assert lmsform("init", "-C", str(tmp_path), "--provider", provider_type).exit_code == 0
    block = provider_block(tmp_path)
    keys = {info.alias or name for name, info in model.model_fields.items()}
    options = "\n".join(m[1] for m in re.finditer(r"^  # (\w+: .*)$",
                                                  (tmp_path / "lmsform.yaml").read_text(),
                                                  re.MULTILINE) if m[1].split(":")[0] in keys)
    uncommented = {**block, **YAML(typ="safe").load(options)}
    assert set(uncommented) == keys
    assert model.model_validate(uncommented) == model.model_validate(block)


def test_the_example_runs_on_the_local_lms(tmp_path: Path) -> None:
    assert lmsform("init", "-C", str(tmp_path)).exit_code == 0  # local is the default
    plan = lmsform("plan", "-C", str(tmp_path))
    assert plan.exit_code == 0, plan.output
    assert "+ user.ada.lovelace@example.com" in plan.output
    assert "Plan: 1 to create" in plan.output


def test_next_steps_name_the_placeholders_and_variables(tmp_path: Path) -> None:
    result = lmsform("init", "-C", str(tmp_path / "lw"), "--provider", "learnworlds")
    assert result.exit_code == 0
    assert "replace the placeholders in lmsform.yaml (base_url, client_id)" in result.output
    assert "set LEARNWORLDS_CLIENT_SECRET in the environment" in result.output
    assert "lmsform validate -C " in result.output


def test_refuses_a_directory_with_manifests_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "main.yaml").write_text("provider: {type: local}\n")
    (tmp_path / ".gitignore").write_text("*.sqlite")
    result = lmsform("init", "-C", str(tmp_path))
    assert result.exit_code == 1
    assert "already has manifests (main.yaml); nothing was written" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gitignore", "main.yaml"]
    forced = lmsform("init", "-C", str(tmp_path), "--force")
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "main.yaml").read_text() == "provider: {type: local}\n"
    assert (tmp_path / ".gitignore").read_text() == "*.sqlite\n.lmsform/\n"  # added to
    assert (tmp_path / "lmsform.yaml").exists() and (tmp_path / "users.yaml").exists()


def test_unknown_provider_lists_the_installed_ones(tmp_path: Path) -> None:
    result = lmsform("init", "-C", str(tmp_path / "new"), "--provider", "moodle")
    assert result.exit_code == 1
    assert "no provider named 'moodle' is installed" in result.output
    assert f"(installed: {', '.join(PROVIDERS)})" in result.output
    assert not (tmp_path / "new").exists()
