"""The config an in-process load run gives its engine."""

from __future__ import annotations

from pathlib import Path

from engine.tools.loadtest.runner import LoadOptions, load_config_for
from tests.support.engine import engine_config


def test_the_run_keeps_the_configs_http_settings_but_takes_its_own_port(tmp_path: Path) -> None:
    config = engine_config(
        tmp_path, 5060, http={"host": "0.0.0.0", "port": 8080, "overload_lag_seconds": 5.0}
    )
    options = LoadOptions(
        rate=10, calls=10, flow_id="loadtest-1s", out_dir=tmp_path / "run", min_workers=3
    )

    run_config = load_config_for(config, options, sipp_port=5099)

    assert run_config.http.overload_lag_seconds == 5.0
    assert run_config.http.host == "127.0.0.1"
    assert run_config.http.port not in (0, 8080)
    assert (run_config.trunks[0].host, run_config.trunks[0].port) == ("127.0.0.1", 5099)
    assert run_config.workers.min_workers == 3
    assert run_config.store.path == tmp_path / "run" / "engine.db"
