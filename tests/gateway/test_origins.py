"""The browser origins a development server allows when CURBSIDE_WS_ORIGINS is unset
(gateway/origins.py): those of the address `manage.py serve` was bound to."""

from __future__ import annotations

from gateway import origins

HOSTS = ["127.0.0.1", "localhost"]


def test_a_loopback_bind_allows_both_loopback_names_on_its_port():
    assert origins.served_origins("127.0.0.1", 18000, HOSTS) == [
        "http://127.0.0.1:18000", "http://localhost:18000"]


def test_every_interface_allows_the_loopback_names_and_the_allowed_hosts():
    assert origins.served_origins("0.0.0.0", 9000, [*HOSTS, "lab.example", ".example", "*"]) == [
        "http://127.0.0.1:9000", "http://localhost:9000", "http://lab.example:9000"]


def test_a_named_bind_ipv6_and_port_80():
    assert origins.served_origins("10.1.2.3", 80, []) == ["http://10.1.2.3"]
    assert origins.served_origins("::1", 8001, [])[0] == "http://[::1]:8001"


def test_the_bound_address_uses_daphnes_defaults():
    assert origins.bound_address([]) == ("127.0.0.1", 8000)
    assert origins.bound_address(["-b", "0.0.0.0", "-p", "18000"]) == ("0.0.0.0", 18000)
    assert origins.bound_address(["-p", "18001", "--proxy-headers"]) == ("127.0.0.1", 18001)
    assert origins.bound_address(["-u", "/tmp/curbside.sock"]) is None


def test_a_refused_origin_is_logged_once(caplog):
    origins.reset()
    with caplog.at_level("WARNING", logger="gateway.origins"):
        for _ in range(3):
            origins.log_refused("http://evil.example", ["http://127.0.0.1:8000"])
        origins.log_refused("http://other.example", [])
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all("CURBSIDE_WS_ORIGINS" in line for line in lines)
    origins.reset()
