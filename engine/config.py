"""The engine's configuration: pydantic models for config/engine.yaml.

Every path in the file is relative to the file's own folder's parent (the project root for
config/engine.yaml), so the default configuration works from a clean clone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from engine.errors import ConfigError

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "engine.yaml"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class HttpConfig(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    overload_lag_seconds: float | None = Field(
        1.0,
        gt=0,
        description="NewOutgoingSession answers 503 Overloaded while the controller's event loop"
        " is this far behind (null: never)",
    )


class StoreConfig(StrictModel):
    path: Path = Path("var/engine.db")


class TtsConfig(StrictModel):
    engine: Literal["espeak-ng"] = "espeak-ng"
    voice: str = "en-us"
    cache_dir: Path = Path("var/tts-cache")


class WorkersConfig(StrictModel):
    min_workers: int = Field(1, ge=0)
    max_workers: int = Field(4, ge=1)
    calls_per_worker: int = Field(4, ge=1, le=4, description="pjsua2-python holds at most 4 calls")
    sip_port_base: int = Field(0, ge=0, le=65535, description="0: each worker takes a free port")
    rtp_port_base: int = Field(20000, ge=1024, le=65000)
    rtp_ports_per_worker: int = Field(40, ge=8)
    clock_rate: int = Field(8000, description="conference bridge clock; 8 kHz halves the CPU")
    idle_shrink_seconds: float = Field(30.0, gt=0)
    unresponsive_seconds: float = Field(
        10.0,
        gt=0,
        description="a worker that has sent nothing for half of this is asked for its stats;"
        " one silent for all of it is aborted (its calls fail as 'worker lost') and replaced",
    )
    public_address: str = "127.0.0.1"
    nice: int = Field(
        10,
        ge=0,
        le=19,
        description="added to the niceness of every thread of each worker: on a saturated"
        " machine the controller, which takes the API's requests, runs first instead of"
        " falling behind them (docs/field-notes.md)",
    )
    command: list[str] | None = Field(
        None,
        min_length=1,
        description="the command that starts a SIP worker, before its options (null: this"
        " Python with -m engine.worker); set it only for a test double, such as the controller"
        " benchmark's fake worker",
    )
    answer_prompt: bool = Field(
        True,
        description="the worker starts a flow's first prompt the moment the call is answered,"
        " when the controller could tell at dialling which prompt that is (it rehearses the"
        " flow's start then); false: the prompt waits for the controller to hear of the answer",
    )


class TrunkConfig(StrictModel):
    name: str
    host: str
    port: int = Field(5060, ge=1, le=65535)
    transport: Literal["udp", "tcp", "tls"] = "udp"
    username: str | None = None
    password: SecretStr | None = None
    realm: str = "*"
    registration: bool = Field(False, alias="register", description="send REGISTER")
    register_expires: int = Field(300, ge=60)
    plus_in_request_uri: bool = True
    headers: dict[str, str] = Field(default_factory=dict)
    ring_timeout_seconds: float = Field(30.0, gt=0)
    max_call_duration_seconds: float = Field(3600.0, gt=0)
    max_concurrent_calls: int = Field(1000, ge=1)
    max_calls_per_second: float = Field(100.0, gt=0)
    queue_size: int = Field(1000, ge=0)

    def request_uri(self, number_e164: str) -> str:
        user = number_e164 if self.plus_in_request_uri else number_e164.lstrip("+")
        transport = "" if self.transport == "udp" else f";transport={self.transport}"
        scheme = "sips" if self.transport == "tls" else "sip"
        return f"{scheme}:{user}@{self.host}:{self.port}{transport}"


class OwnedNumber(StrictModel):
    number: str
    trunk: str
    description: str = ""


class MqttConfig(StrictModel):
    url: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    topic_prefix: str = "voice-engine"
    tls: bool = False
    ca_file: Path | None = None


class LoggingConfig(StrictModel):
    format: Literal["text", "json"] = "text"
    level: str = "INFO"


class EngineConfig(StrictModel):
    node_id: str = "node-1"
    http: HttpConfig = Field(default_factory=HttpConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    flows_dir: Path = Path("flows")
    recordings_dir: Path = Path("var/recordings")
    tts: TtsConfig = Field(default_factory=TtsConfig)
    workers: WorkersConfig = Field(default_factory=WorkersConfig)
    trunks: list[TrunkConfig]
    numbers: list[OwnedNumber]
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    drain_seconds: float = Field(30.0, ge=0)

    @field_validator("trunks")
    @classmethod
    def _unique_trunk_names(cls, trunks: list[TrunkConfig]) -> list[TrunkConfig]:
        names = [t.name for t in trunks]
        if len(set(names)) != len(names):
            raise ValueError("trunk names must be unique")
        if not trunks:
            raise ValueError("at least one trunk is required")
        return trunks

    def model_post_init(self, __context: object) -> None:
        trunk_names = {t.name for t in self.trunks}
        for index, owned in enumerate(self.numbers):
            if owned.trunk not in trunk_names:
                raise ValueError(f"numbers[{index}].trunk: no trunk named {owned.trunk!r}")

    def trunk(self, name: str) -> TrunkConfig:
        for trunk in self.trunks:
            if trunk.name == name:
                return trunk
        raise KeyError(name)

    def owned_number(self, number: str) -> OwnedNumber | None:
        return next((n for n in self.numbers if n.number == number), None)

    def resolve_paths(self, root: Path) -> EngineConfig:
        """Return a copy whose relative paths are made absolute against `root`."""

        def absolute(path: Path) -> Path:
            return path if path.is_absolute() else (root / path).resolve()

        return self.model_copy(
            update={
                "store": self.store.model_copy(update={"path": absolute(self.store.path)}),
                "flows_dir": absolute(self.flows_dir),
                "recordings_dir": absolute(self.recordings_dir),
                "tts": self.tts.model_copy(update={"cache_dir": absolute(self.tts.cache_dir)}),
            }
        )


def load_config(path: Path | None = None) -> EngineConfig:
    """Read and validate a config file; errors name the file and the field."""
    path = Path(path or os.environ.get("VOICE_ENGINE_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        config = EngineConfig.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
    return config.resolve_paths(path.resolve().parent.parent)
