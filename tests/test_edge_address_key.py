"""Per-address limits (sign-in throttle, WebSockets per address) key an IPv6 client by its /64."""

from confserver.edge.limits import address_key


def test_ipv6_keyed_by_its_64_ipv4_as_is():
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff:ffff:ffff:fffe") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:10.0.0.7") == "10.0.0.7"
    assert address_key("10.0.0.7") == "10.0.0.7" and address_key("unknown") == "unknown"
