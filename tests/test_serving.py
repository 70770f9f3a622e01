"""Safe serving: the Host check (DNS rebinding), the Content-Security-Policy, config checks."""

from __future__ import annotations

import pytest
import requests
from live_server import live_server

from dash_app.auth import allowed_host_names, content_security_policy, host_allowed
from dash_app.config import load_config
from dispatch_analytics import ingest, load_profile
from dispatch_analytics.errors import DispatchError
from dispatch_analytics.sample.city import generate_city


def test_host_names_and_ports():
    names = allowed_host_names("127.0.0.1")
    for ok in ("localhost", "localhost:8050", "127.0.0.1:9", "[::1]:8050", "[::1]", "LOCALHOST"):
        assert host_allowed(ok, names), ok
    for bad in ("evil.example", "evil.example:8050", "127.0.0.1.evil.example", "", None):
        assert not host_allowed(bad, names), bad
    lan = allowed_host_names("192.168.1.5", ["dash.example.org"])
    assert host_allowed("192.168.1.5:8050", lan) and host_allowed("dash.example.org", lan)
    assert not host_allowed("other.example.org", lan)
    assert "0.0.0.0" not in allowed_host_names("0.0.0.0")
    assert host_allowed("anything", allowed_host_names("127.0.0.1", ["*"]))


def test_csp_is_strict():
    csp = content_security_policy(["'sha256-abc='"])
    assert "default-src 'self'" in csp and "script-src 'self' 'sha256-abc='" in csp
    assert "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self' 'unsafe-inline'" not in csp


def test_config_allowed_hosts_and_limits(tmp_path, monkeypatch):
    toml = tmp_path / "dash.toml"
    toml.write_text('[dashboard]\nallowed_hosts = ["dash.example.org"]\nsql_max_bytes = 1000\n')
    cfg = load_config(toml)
    assert cfg.allowed_hosts == ["dash.example.org"] and cfg.sql_max_bytes == 1000
    monkeypatch.setenv("DISPATCH_DASH_ALLOWED_HOSTS", "a.example, b.example")
    assert load_config(toml).allowed_hosts == ["dash.example.org", "a.example", "b.example"]
    monkeypatch.delenv("DISPATCH_DASH_ALLOWED_HOSTS")
    toml.write_text('[dashboard]\nallowed_hosts = "dash.example.org"\nsql_threads = 0\n')
    with pytest.raises(DispatchError, match=r"`allowed_hosts` must be a list.*`sql_threads`"):
        load_config(toml)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    c = generate_city(root / "city", n_incidents=150, seed=2)
    ingest(c.incidents_csv, load_profile(c.mapping_toml), data_dir=root / "store")
    return root / "store"


@pytest.mark.slow
def test_live_server_refuses_other_hosts(store, tmp_path):
    toml = tmp_path / "dash.toml"
    toml.write_text('[dashboard]\nallowed_hosts = ["proxy.example.org"]\n')
    with live_server(store, "--allowed-host", "dash.example.org", "--config", str(toml)) as url:

        def get(host):
            return requests.get(url + "/", headers={"Host": host}, timeout=30)

        evil = get("evil.example")
        assert evil.status_code == 400 and "allowed_hosts" in evil.text
        assert (
            requests.post(
                url + "/_dash-update-component",
                json={},
                headers={"Host": "evil.example"},
                timeout=30,
            ).status_code
            == 400
        )
        for host in ("localhost", "127.0.0.1", "[::1]", "dash.example.org", "proxy.example.org"):
            r = get(host + ":8050")
            assert r.status_code == 200, host
        r = requests.get(url + "/", timeout=30)
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "'sha256-" in csp
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
