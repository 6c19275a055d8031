"""Hub config: TOML file, then environment overrides; clear errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import ConfigError
from hub.config import HubConfig, load_hub_config, public_url


def test_defaults_without_file():
    config = load_hub_config(None, {})
    assert config.database_url is None and config.listen_port == 8080
    assert public_url(config) == "http://127.0.0.1:8080"


def test_file_then_environment(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text(
        'data_dir = "/srv/hub"\nlisten_port = 9000\nrate_limit_per_minute = 30\n'
        '[wireguard]\nendpoint = "hub.example.net:51820"\n'
    )
    config = load_hub_config(str(path), {})
    assert config.data_dir == "/srv/hub" and config.listen_port == 9000
    assert config.rate_limit_per_minute == 30
    assert config.wireguard.endpoint == "hub.example.net:51820"
    env = {
        "DATABASE_URL": "postgresql://u@127.0.0.1/db",
        "ISPFLEET_HUB_LISTEN": "0.0.0.0:8443",
        "ISPFLEET_HUB_PUBLIC_URL": "https://hub.example.net",
    }
    config = load_hub_config(str(path), env)
    assert config.database_url == "postgresql://u@127.0.0.1/db"
    assert (config.listen_host, config.listen_port) == ("0.0.0.0", 8443)
    assert public_url(config) == "https://hub.example.net"
    assert config.data_dir == "/srv/hub"
    # $ISPFLEET_HUB_CONFIG names the file when no path is given.
    assert load_hub_config(None, {"ISPFLEET_HUB_CONFIG": str(path)}).listen_port == 9000


def test_bad_values_are_config_errors(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text('listen_port = "abc"\n')
    with pytest.raises(ConfigError, match="listen_port"):
        load_hub_config(str(path), {})
    path.write_text("no_such_key = 1\n")
    with pytest.raises(ConfigError, match="no_such_key"):
        load_hub_config(str(path), {})
    for listen in ("8080", "host:", "host:99999", ":80"):
        with pytest.raises(ConfigError, match="ISPFLEET_HUB_LISTEN"):
            load_hub_config(None, {"ISPFLEET_HUB_LISTEN": listen})


def test_the_example_config_loads_with_the_defaults():
    example = Path(__file__).resolve().parents[2] / "deploy" / "hub.example.toml"
    assert load_hub_config(str(example), {}) == HubConfig()
