"""Secrets: what counts as showing one."""

from __future__ import annotations

from lmsform.secrets import WITHHELD, Secrets


def test_credentials_are_found_inside_values_and_passwords_only_whole() -> None:
    secrets = Secrets((c for c in ["tr4nsaction-key"]), ["pw1", "hunter22"])
    assert secrets.shows("prefix tr4nsaction-key suffix")
    assert secrets.shows({"custom": ["x", "tr4nsaction-key"]})
    assert secrets.shows("hunter22") and not secrets.shows("my hunter22 story")
    assert not secrets.shows("pw") and not secrets.shows(3)


def test_a_long_secret_is_masked_in_every_spelling_an_echo_may_use() -> None:
    secret = 'pa"ss w/rd&=+é1'
    secrets = Secrets([secret])
    for spelling in (secret, 'pa\\"ss w/rd&=+\\u00e91', "pa%22ss%20w%2Frd%26%3D%2B%C3%A91",
                     "pa%22ss+w%2Frd%26%3D%2B%C3%A91", "pa&quot;ss w/rd&amp;=+é1"):
        assert secrets.redact(f"echo: {spelling}.") == "echo: ***."


def test_a_short_secret_is_never_masked_letter_by_letter() -> None:
    """Masking a one-letter token wherever it appears would spell it out; a short secret
    withholds the text where it shows as a word, and leaves words that merely hold it."""
    secrets = Secrets(["e"])
    assert secrets.redact("the token was refused") == "the token was refused"
    shown = secrets.redact('refused {"token": "e"}')
    assert shown == WITHHELD and '"e"' not in shown
    assert Secrets(["1234"]).redact("user 1234 unknown") == WITHHELD
    assert Secrets(["1234"]).redact("user 912345 unknown") == "user 912345 unknown"


def test_write_only_values_are_redacted_where_the_request_carried_them() -> None:
    """100k passwords are looked up among what a request sent, not searched for."""
    secrets = Secrets(["long-credential-1"], ["hunter22-pw", "other-pw-999"])
    echoed = 'rejected {"password": "hunter22-pw", "other": "other-pw-999"}'
    shown = secrets.redact(echoed, present=[{"email": "a@b.c", "password": "hunter22-pw"}])
    assert shown == 'rejected {"password": "***", "other": "other-pw-999"}'


def test_a_value_from_the_environment_counts_in_text_from_8_characters() -> None:
    """A port or a currency from the environment would withhold every message that names
    it; and as a value it would hide whatever holds it elsewhere (a domain, every email):
    the fields that took one are known by their place instead (`Resource.sensitive`)."""
    secrets = Secrets([], [], from_env=["1", "USD", "env-Value-Secret-7"])
    assert secrets.redact("users[1]: 'USD' 1") == "users[1]: 'USD' 1"
    assert secrets.redact("got env-Value-Secret-7") == "got ***"
    assert secrets.shows("env-Value-Secret-7") and not secrets.shows("USD")
    assert not secrets.shows("mail me at env-Value-Secret-7")


def test_lmsforms_own_text_masks_long_secrets_and_withholds_for_what_it_quotes() -> None:
    """A short credential (a domain id `42`) would withhold every error naming line 42: in
    lmsform's own text only what the text may quote goes by the whole rule."""
    secrets = Secrets(["42", "long-credential-1"])
    assert secrets.mask("org.yaml:42:3: error: x long-credential-1") == \
        "org.yaml:42:3: error: x ***"
    assert secrets.redact("vendor says 42") == WITHHELD
    assert secrets.mask("refused 'pw1' here", also=["pw1"]) == WITHHELD
