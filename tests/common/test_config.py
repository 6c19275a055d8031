"""Typed TOML config: values land typed, defaults apply, every error names file and key."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.config import ConfigError, load_config, load_config_file


@dataclass(slots=True)
class RouterSettings:
    name: str
    host: str
    port: int = 8728
    username: str = "admin"
    password: str | None = None
    tls: bool = False


@dataclass(slots=True)
class HubSettings:
    url: str
    timeout: float = 10.0
    mode: Literal["push", "pull"] = "push"


@dataclass(slots=True)
class AgentSettings:
    hub: HubSettings
    site: str | None
    routers: list[RouterSettings] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    ports: list[int] = field(default_factory=lambda: [8728])
    cache_path: Path = Path("agent.db")
    retries: int | None = 3


@dataclass(frozen=True)
class Window:
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("end must not be before start")


@dataclass
class Schedule:
    windows: dict[str, Window] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


AGENT_TOML = """\
site = "dar-1"
cache_path = "/var/lib/ispfleet/agent.db"
labels = { region = "coast", "rack.row" = "b" }

[hub]
url = "https://hub.example"
timeout = 5
mode = "pull"

[[routers]]
name = "site-1"
host = "127.0.0.1"

[[routers]]
name = "site-2"
host = "127.0.0.1"
port = 8729
password = "secret"
tls = true
"""


def write(tmp_path: Path, text: str, name: str = "agent.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_a_full_file_with_types_and_defaults(tmp_path: Path) -> None:
    settings = load_config_file(AgentSettings, write(tmp_path, AGENT_TOML))
    assert settings == AgentSettings(
        hub=HubSettings(url="https://hub.example", timeout=5.0, mode="pull"),
        site="dar-1",
        routers=[
            RouterSettings(name="site-1", host="127.0.0.1"),
            RouterSettings(name="site-2", host="127.0.0.1", port=8729, password="secret", tls=True),
        ],
        labels={"region": "coast", "rack.row": "b"},
        cache_path=Path("/var/lib/ispfleet/agent.db"),
    )
    assert type(settings.hub.timeout) is float
    assert isinstance(settings.cache_path, Path)


def test_defaults_and_optional_fields_without_default() -> None:
    first = load_config(AgentSettings, {"hub": {"url": "u"}})
    second = load_config(AgentSettings, {"hub": {"url": "u"}})
    assert first.site is None
    assert first.routers == [] and first.ports == [8728] and first.retries == 3
    assert first.hub == HubSettings(url="u")
    first.ports.append(1)
    assert second.ports == [8728]  # default_factory: one fresh list per load


def test_explicit_none_is_allowed_for_optional_fields() -> None:
    settings = load_config(AgentSettings, {"hub": {"url": "u"}, "retries": None, "site": None})
    assert settings.retries is None and settings.site is None


def test_dict_of_dataclasses_and_any() -> None:
    schedule = load_config(
        Schedule,
        {"windows": {"night": {"start": 0, "end": 6}}, "extra": {"x": [1, "two"]}},
    )
    assert schedule.windows == {"night": Window(0, 6)}
    assert schedule.extra == {"x": [1, "two"]}


def test_plain_annotations_without_future_import() -> None:
    plain = dataclasses.make_dataclass(
        "Plain",
        [
            ("port", int),
            ("host", str | None, None),
            ("tags", list[str], field(default_factory=list)),
        ],
    )
    assert load_config(plain, {"port": 1, "tags": ["a"]}) == plain(port=1, host=None, tags=["a"])
    with pytest.raises(ConfigError, match=r"^config: tags\[0\]: expected a string, got 1$"):
        load_config(plain, {"port": 1, "tags": [1]})


BASE = {"hub": {"url": "u"}, "routers": [{"name": "a", "host": "h"}, {"name": "b", "host": "h"}]}


def with_change(path: list[Any], value: Any) -> dict[str, Any]:
    """BASE with one value replaced (or removed, for ``...``), deep-copied."""
    data = copy.deepcopy(BASE)
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["routers", 1, "port"], "abc", "routers[1].port: expected an integer, got 'abc'"),
        (["routers", 1, "port"], True, "routers[1].port: expected an integer, got True"),
        (["routers", 1, "port"], 1.5, "routers[1].port: expected an integer, got 1.5"),
        (["routers", 0, "host"], ..., "routers[0]: missing required key 'host'"),
        (["hub"], ..., "missing required key 'hub'"),
        (["routers", 0, "prot"], 1, "routers[0]: unknown key 'prot' (did you mean 'port'?)"),
        (["colour"], "red", "unknown key 'colour'"),
        (["hub", "mode"], "poll", "hub.mode: expected one of 'push', 'pull', got 'poll'"),
        (["hub", "timeout"], "fast", "hub.timeout: expected a number, got 'fast'"),
        (["hub", "timeout"], False, "hub.timeout: expected a number, got False"),
        (["routers", 0, "tls"], "yes", "routers[0].tls: expected true or false, got 'yes'"),
        (["routers", 0, "name"], 5, "routers[0].name: expected a string, got 5"),
        (["routers", 0, "password"], 5, "routers[0].password: expected a string, got 5"),
        (["routers"], 5, "routers: expected a list, got 5"),
        (["routers", 1], "r2", "routers[1]: expected a table, got 'r2'"),
        (["hub"], "u", "hub: expected a table, got 'u'"),
        (["labels"], {"region": 5}, "labels.region: expected a string, got 5"),
        (["labels"], {"rack.row": 5}, 'labels."rack.row": expected a string, got 5'),
        (["labels"], ["a"], "labels: expected a table, got ['a']"),
        (["labels"], {1: "a"}, "labels: expected a table, got {1: 'a'}"),
        (["ports"], [1, "x"], "ports[1]: expected an integer, got 'x'"),
        (["cache_path"], 5, "cache_path: expected a path string, got 5"),
        (["retries"], "3", "retries: expected an integer, got '3'"),
    ],
)
def test_errors_name_the_source_and_dotted_key(path: list[Any], value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(AgentSettings, with_change(path, value), source="agent.toml")
    assert str(caught.value) == f"agent.toml: {message}"
    assert isinstance(caught.value, ValueError)


def test_unknown_key_without_a_close_match_has_no_hint() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(AgentSettings, with_change(["zzz"], 1))
    assert str(caught.value) == "config: unknown key 'zzz'"


def test_post_init_checks_are_reported_at_their_table() -> None:
    with pytest.raises(
        ConfigError, match=r"^config: windows\.night: end must not be before start$"
    ):
        load_config(Schedule, {"windows": {"night": {"start": 6, "end": 0}}})


def test_top_level_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match=r"^agent.toml: expected a table, got \[1\]$"):
        load_config(AgentSettings, [1], source="agent.toml")  # type: ignore[arg-type]


def test_file_errors_name_the_bad_key_with_the_path(tmp_path: Path) -> None:
    path = write(tmp_path, AGENT_TOML.replace("port = 8729", 'port = "abc"'))
    with pytest.raises(ConfigError) as caught:
        load_config_file(AgentSettings, path)
    assert str(caught.value) == f"{path}: routers[1].port: expected an integer, got 'abc'"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_config_file(AgentSettings, path)
    assert str(caught.value) == f"config file not found: {path}"


def test_toml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '[hub]\nurl = "u"\ntimeout = \n')
    with pytest.raises(ConfigError) as caught:
        load_config_file(AgentSettings, str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert "line 3, column 11" in message


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config_file(AgentSettings, tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'site = "\xff"\n')
    with pytest.raises(ConfigError, match=r"binary\.toml"):
        load_config_file(AgentSettings, binary)


def test_programming_errors_stay_type_errors() -> None:
    @dataclass
    class Odd:
        value: int | str

    with pytest.raises(TypeError):
        load_config(Odd, {"value": 1})
    with pytest.raises(TypeError, match="not a dataclass"):
        load_config(dict, {})


@given(
    st.one_of(
        st.text(),
        st.booleans(),
        st.floats(allow_nan=False),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )
)
def test_any_non_integer_port_is_refused_at_its_key(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"^config: routers\[1\]\.port: expected an integer"):
        load_config(AgentSettings, with_change(["routers", 1, "port"], value))


names = st.text(min_size=1, max_size=10)
routers = st.builds(
    RouterSettings,
    name=names,
    host=names,
    port=st.integers(0, 65535),
    username=names,
    password=st.none() | names,
    tls=st.booleans(),
)
agent_settings = st.builds(
    AgentSettings,
    hub=st.builds(
        HubSettings,
        url=names,
        timeout=st.floats(0, 1e6),
        mode=st.sampled_from(["push", "pull"]),
    ),
    site=st.none() | names,
    routers=st.lists(routers, max_size=3),
    labels=st.dictionaries(names, names, max_size=3),
    ports=st.lists(st.integers(), max_size=3),
    cache_path=names.map(Path),
    retries=st.none() | st.integers(),
)


@given(agent_settings)
def test_dataclass_to_dict_and_back_is_identity(settings: AgentSettings) -> None:
    assert load_config(AgentSettings, dataclasses.asdict(settings)) == settings
