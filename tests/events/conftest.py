from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import MqttConfig
from tests.support.mosquitto import MosquittoBroker
from tests.support.mqtt import Subscriber, subscribed

__all__ = ["Subscriber", "subscribed"]


@pytest.fixture
def broker() -> Iterator[MosquittoBroker]:
    with MosquittoBroker() as running:
        yield running


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "engine.db"


def mqtt_config(broker: MosquittoBroker, prefix: str = "ve-test") -> MqttConfig:
    return MqttConfig(url=broker.url, topic_prefix=prefix)
