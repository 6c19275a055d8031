"""Loading agent.toml: the example documents every key; bad files name the key."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from agent.config import (
    AgentSettings,
    HubSettings,
    RouterSettings,
    load_agent_config,
    parse_agent_config,
)
from common.config import ConfigError

EXAMPLE = Path(__file__).parents[2] / "deploy" / "agent.example.toml"


def _minimal(**router):
    return {"agent": {"site": "s1"}, "routers": [{"name": "r1", "host": "127.0.0.1", **router}]}


def test_example_config_loads_with_every_key():
    config = load_agent_config(EXAMPLE)
    assert config.agent.site == "main-office"
    assert config.agent.metrics_address == ("127.0.0.1", 9617)
    assert config.hub.url is None
    router = config.routers[0]
    assert (router.name, router.api_port, router.tls) == ("core", 8728, False)
    text = EXAMPLE.read_text()
    for cls in (AgentSettings, HubSettings, RouterSettings):
        for field in fields(cls):
            assert f"{field.name} =" in text, f"{cls.__name__}.{field.name} not documented"


def test_defaults_and_tls_port():
    config = parse_agent_config(_minimal(tls=True))
    assert config.routers[0].api_port == 8729
    assert config.routers[0].address == "127.0.0.1:8729"
    assert parse_agent_config(_minimal(port=18728)).routers[0].api_port == 18728
    assert config.agent.reconcile_interval == 30.0
    router = config.routers[0]  # not billing-managed unless asked
    assert (router.billing, router.billing_exempt_users, router.billing_exempt_profiles) == (
        False,
        [],
        [],
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"agent": {"site": "s1"}, "routers": []}, "at least one [[routers]]"),
        ({"routers": [{"name": "r", "host": "h"}]}, "missing required key 'agent'"),
        (
            {"agent": {}, "routers": [{"name": "r", "host": "h"}]},
            "agent: missing required key 'site'",
        ),
        (
            {"agent": {"site": "s1"}, "routers": [{"name": "r", "host": "a"}] * 2},
            "routers[1].name: duplicate router name 'r'",
        ),
        (_minimal(port="abc"), "routers[0].port"),
        (_minimal(colour="red"), "colour"),
        ({**_minimal(), "agent": {"site": "s1", "metrics_listen": "nowhere"}}, "metrics_listen"),
        ({**_minimal(), "agent": {"site": "s1", "counters_interval": 0}}, "counters_interval"),
        (_minimal(backoff_min=5.0, backoff_max=1.0), "backoff_max"),
        (_minimal(billing="yes"), "routers[0].billing"),
        (_minimal(billing_exempt_users=["admin", " "]), "routers[0].billing_exempt_users"),
        (_minimal(billing_exempt_profiles="staff"), "routers[0].billing_exempt_profiles"),
    ],
)
def test_bad_config_names_the_key(data, message):
    with pytest.raises(ConfigError) as info:
        parse_agent_config(data, "agent.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("agent.toml")


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_agent_config(tmp_path / "nope.toml")
