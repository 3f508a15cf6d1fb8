"""config/settings.py: every variable checked at start with a line naming it, today's defaults, and
the README's Configuration table held to the class, so neither drifts from the other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.settings import Settings, SettingsError, variables

README = Path(__file__).resolve().parents[2] / "README.md"

ORIGINS = "origins separated by commas, each scheme://host[:port] with no path, such as https://till.example.com"

# (variable, a value it must refuse, what the error says is allowed)
BAD = [
    ("SALESYNC_APPLY_BATCH", "abc", "an integer from 1 to 10000"),
    ("SALESYNC_APPLY_BATCH", "0", "an integer from 1 to 10000"),
    ("SALESYNC_APPLY_BATCH", "10001", "an integer from 1 to 10000"),
    ("SALESYNC_APPLY_BATCH", "2.5", "an integer from 1 to 10000"),
    ("SALESYNC_DRAIN_INTERVAL", "0", "a number above 0"),
    ("SALESYNC_DRAIN_INTERVAL", "nan", "a number above 0"),
    ("SALESYNC_DRAIN_INTERVAL", "inf", "a number above 0"),
    ("SALESYNC_RECLAIM_AFTER", "-5", "a number above 0"),
    ("SALESYNC_MAX_BODY_BYTES", "1023", "an integer of at least 1024"),
    ("SALESYNC_MAX_BATCH_BYTES", "65535", "an integer of at least SALESYNC_MAX_BODY_BYTES (65536)"),
    ("SALESYNC_RECORD_TTL", "0", "an integer of at least 1"),
    ("SALESYNC_TOKEN_CACHE_SECONDS", "-1", "a number of at least 0"),
    ("SALESYNC_RETRY_AFTER", "0", "an integer of at least 1"),
    ("SALESYNC_TIMEZONE", "Mars/Olympus_Mons", "an IANA time zone name, such as UTC or Europe/Berlin"),
    ("SALESYNC_TIMEZONE", "../../etc/passwd", "an IANA time zone name, such as UTC or Europe/Berlin"),
    ("SALESYNC_ROLLUP_INTERVAL", "0", "a number above 0"),
    ("SALESYNC_SET_ASIDE_AFTER", "-1", "a number of at least 0"),
    ("SALESYNC_RATE_LIMIT", "-0.5", "a number of at least 0"),
    ("SALESYNC_RATE_BURST", "0", "an integer of at least 1"),
    ("SALESYNC_SALES_RATE", "fast", "a number of at least 0"),
    ("SALESYNC_SALES_BURST", "999", "an integer of at least 1000"),
    ("SALESYNC_MAX_QUEUED", "0", "an integer of at least 1"),
    ("SALESYNC_REDIS_HIGH_WATER", "0", "a number above 0 and at most 1"),
    ("SALESYNC_REDIS_HIGH_WATER", "1.01", "a number above 0 and at most 1"),
    ("SALESYNC_FAULT", "crash", "exit-after-record or empty"),
    ("SALESYNC_LOG_FORMAT", "xml", "json or text"),
    ("SALESYNC_GAP_GRACE", "0", "a number above 0"),
    *(
        ("SALESYNC_CORS_ORIGINS", origin, ORIGINS)
        for origin in ("*", "till.example.com", "https://till.example.com/", "https://a.example,https://b.example/till")
    ),
]
SECRET_BAD = [("SALESYNC_FLOWER_AUTH", "hunter2"), ("FLOWER_BASIC_AUTH", "ops:pw,hunter2")]

# The defaults before the settings moved to pydantic-settings: a deployment that sets nothing
# must behave exactly as before.
TODAY = {
    "database_url": None,
    "redis_url": None,
    "data_dir": Path("var"),
    "redis_prefix": "salesync:",
    "apply_batch": 500,
    "drain_interval": 1.0,
    "reclaim_after": 60.0,
    "max_body_bytes": 65536,
    "max_batch_bytes": 8388608,
    "record_ttl": 2592000,
    "token_cache_seconds": 5.0,
    "retry_after": 5,
    "timezone": "UTC",
    "rollup_interval": 60.0,
    "set_aside_after": 3600.0,
    "rate_limit": 50.0,
    "rate_burst": 100,
    "sales_rate": 200.0,
    "sales_burst": 5000,
    "max_queued": 1000000,
    "redis_high_water": 0.8,
    "metrics_token": "",
    "fault": "",
    "log_format": "json",
    "gap_grace": 600.0,
    "cors_origins": "",
    "flower_auth": "",
    "prometheus_multiproc_dir": Path("var/prometheus"),
}


@pytest.mark.parametrize(("name", "value", "allowed"), BAD)
def test_a_bad_value_is_refused_with_its_variable_and_what_is_allowed(name, value, allowed):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({name: value})
    assert str(refused.value) == f"{name}={value} is not valid: {allowed}"


@pytest.mark.parametrize(("name", "value"), SECRET_BAD)
def test_a_bad_secret_is_named_but_never_shown(name, value):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({name: value})
    assert str(refused.value) == f"{name} is not valid: user:password, or several separated by commas"


def test_a_default_that_a_setting_makes_wrong_is_named_as_the_default():
    with pytest.raises(
        SettingsError,
        match=r"^SALESYNC_MAX_BATCH_BYTES=8388608 \(the default\) is not valid: "
        r"an integer of at least SALESYNC_MAX_BODY_BYTES \(10000000\)$",
    ):
        Settings.from_env({"SALESYNC_MAX_BODY_BYTES": "10000000"})


def test_every_validated_variable_has_a_bad_value_above():
    bounded = {
        variables(field)[0]
        for field, info in Settings.model_fields.items()
        if info.metadata or field in ("timezone", "fault", "log_format", "max_batch_bytes")
    }
    assert bounded <= {name for name, _, _ in BAD}


def test_the_defaults_are_todays():
    assert Settings().model_dump() == TODAY
    assert Settings.from_env({}).model_dump() == TODAY


def test_an_empty_variable_means_its_default():
    empty = {name: "" for field in Settings.model_fields for name in variables(field)}
    assert Settings.from_env(empty) == Settings()


def test_settings_alone_ignores_the_environment(monkeypatch):
    """Settings() is the defaults, so tests built on it never pick up the shell's settings."""
    monkeypatch.setenv("SALESYNC_APPLY_BATCH", "7")
    assert Settings().apply_batch == 500
    assert Settings.from_env().apply_batch == 7


def test_values_are_read_by_their_variables():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@db/s",
            "REDIS_URL": "redis://q:6379/0",
            "SALESYNC_DATA_DIR": "/srv/salesync",
            "SALESYNC_APPLY_BATCH": "10000",
            "SALESYNC_REDIS_HIGH_WATER": "1",
            "SALESYNC_TIMEZONE": "Europe/Berlin",
            "SALESYNC_FAULT": "exit-after-record",
            "SALESYNC_LOG_FORMAT": "text",
            "SALESYNC_METRICS_TOKEN": "m",
        }
    )
    assert settings.database_url == "postgresql+psycopg2://u@db/s"
    assert settings.redis_url == "redis://q:6379/0"
    assert (settings.apply_batch, settings.redis_high_water, settings.timezone) == (10000, 1.0, "Europe/Berlin")
    assert (settings.fault, settings.log_format, settings.metrics_token) == ("exit-after-record", "text", "m")
    assert settings.prometheus_multiproc_dir == Path("/srv/salesync/prometheus")
    assert "'m'" not in repr(settings)  # a secret stays out of logs


def test_flower_auth_prefers_salesync_flower_auth_then_flowers_own_name():
    assert Settings.from_env({"FLOWER_BASIC_AUTH": "a:1"}).flower_auth == "a:1"
    assert Settings.from_env({"SALESYNC_FLOWER_AUTH": "b:2,c:3", "FLOWER_BASIC_AUTH": "a:1"}).flower_auth == "b:2,c:3"
    assert Settings.from_env({"SALESYNC_FLOWER_AUTH": "", "FLOWER_BASIC_AUTH": "a:1"}).flower_auth == "a:1"


def test_prometheus_multiproc_dir_can_be_set_apart_from_the_data_dir():
    settings = Settings.from_env({"PROMETHEUS_MULTIPROC_DIR": "/run/metrics", "SALESYNC_DATA_DIR": "/srv"})
    assert settings.prometheus_multiproc_dir == Path("/run/metrics")


def test_the_salesync_command_prints_the_line_and_exits_2(monkeypatch, capsys):
    from cli.main import main

    monkeypatch.setenv("SALESYNC_APPLY_BATCH", "abc")
    assert main(["token", "list"]) == 2
    assert capsys.readouterr().err == "salesync: SALESYNC_APPLY_BATCH=abc is not valid: an integer from 1 to 10000\n"


def test_the_web_app_and_the_worker_refuse_to_start_with_the_same_line(monkeypatch):
    from web.app import create_app
    from worker.resources import resources

    monkeypatch.setenv("SALESYNC_RETRY_AFTER", "0")
    for start in (create_app, resources):
        with pytest.raises(SettingsError, match=r"^SALESYNC_RETRY_AFTER=0 is not valid: an integer of at least 1$"):
            start()


# The README's Configuration table ---------------------------------------------------------------


def readme_table() -> dict[str, str]:
    """{variable: its Default cell} from the table under "## Configuration"."""
    section = README.read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| `")]
    return {re.fullmatch(r"`(\w+)`", name.strip()).group(1): default.strip() for name, default, _ in rows}


def test_the_readme_documents_exactly_the_variables_of_the_class():
    documented = list(readme_table())
    assert len(documented) == len(set(documented)), "a variable documented twice"
    assert set(documented) == {variables(field)[0] for field in Settings.model_fields}


def test_the_readme_defaults_are_the_class_defaults():
    """A Default cell that starts with a literal (`500`, `2592000` (30 days), `./var`) must read, set
    as its variable, as the class default; a cell in words (none, embedded PostgreSQL under
    `$SALESYNC_DATA_DIR/postgres`) stands for a default that is no literal: unset or derived."""
    fields = {variables(field)[0]: (field, info) for field, info in Settings.model_fields.items()}
    for name, cell in readme_table().items():
        field, info = fields[name]
        literal = re.match(r"`([^`$]+)`", cell)
        if literal:
            assert getattr(Settings.from_env({name: literal.group(1)}), field) == getattr(Settings(), field), name
        else:
            assert info.default_factory is not None or info.default in (None, ""), name
