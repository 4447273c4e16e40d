"""Proves, with hand-built frames on raw sockets, that the broker answers pipelined requests in
order, negotiates ApiVersions (including an unknown version), and drops connections that send
hostile bytes while other clients keep being served."""
from __future__ import annotations

import socket
import struct

import pytest

import kafka_wire as wire


def test_pipelined_requests_are_answered_in_order(bootstrap):
    frames = []
    expected = []
    for corr in range(1, 13):
        if corr % 3 == 0:
            frames.append(wire.metadata_request_v1(corr))
            expected.append((corr, "metadata"))
        else:
            version = 3 if corr % 2 else 0
            frames.append(wire.api_versions_request(corr, version))
            expected.append((corr, f"api_versions_v{version}"))
    with wire.connect(bootstrap) as sock:
        sock.sendall(b"".join(frames))
        for corr, kind in expected:
            body = wire.read_response(sock)
            assert body is not None, f"connection closed before response {corr}"
            if kind == "metadata":
                got_corr, brokers = wire.parse_metadata_v1_brokers(body)
                assert got_corr == corr and brokers
            else:
                got_corr, err, apis = wire.parse_api_versions(body, int(kind[-1]))
                assert (got_corr, err) == (corr, 0)
                assert wire.API_VERSIONS in apis and wire.API_METADATA in apis


def test_api_versions_lists_the_client_facing_apis(bootstrap):
    body = wire.round_trip(bootstrap, wire.api_versions_request(7, 3))
    corr, err, apis = wire.parse_api_versions(body, 3)
    assert (corr, err) == (7, 0)
    for key in (0, 1, 2, 3, 18, 19, 20, 32, 37):  # produce fetch list_offsets metadata ... create_partitions
        assert key in apis, f"api key {key} missing from {sorted(apis)}"
    assert apis[18][1] >= 3
    assert apis[0][0] == 0, "Produce must be advertised from v0 (librdkafka needs it)"


def test_unknown_api_versions_version_gets_unsupported_version_with_the_list(bootstrap):
    # Versions past the known maximum are framed like v3+ (request header v2, with tagged fields).
    body = wire.round_trip(bootstrap, wire.request(wire.API_VERSIONS, 127, 9, flexible=True))
    assert body is not None
    corr, err, apis = wire.parse_api_versions(body, 0)
    assert (corr, err) == (9, 35)  # UNSUPPORTED_VERSION, body in v0 layout
    assert wire.API_VERSIONS in apis


HOSTILE = {
    "negative_size": struct.pack(">i", -5) + b"\x00" * 16,
    "size_0x7fffffff": struct.pack(">i", 0x7FFFFFFF) + b"\x00" * 64,
    "http_get": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    # A TLS 1.2 ClientHello record header + start of handshake: read as a size it is ~369 MB.
    "tls_client_hello": bytes.fromhex("16030100a5010000a10303") + b"\x11" * 32 + b"\x00\x00\x02\x00\x2f\x01\x00",
    "unknown_api_key_99": wire.request(99, 0, 1, b"\x00" * 8),
    "size_zero": struct.pack(">i", 0),
    "size_below_header": struct.pack(">i", 3) + b"\x00\x12\x00",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_bytes_close_the_connection_and_others_keep_working(bootstrap, name):
    with wire.connect(bootstrap) as healthy:
        with wire.connect(bootstrap) as hostile:
            hostile.sendall(HOSTILE[name])
            assert wire.wait_closed(hostile, timeout_s=15), f"{name}: connection left open"
        healthy.sendall(wire.api_versions_request(42, 0))
        body = wire.read_response(healthy)
        assert body is not None and wire.parse_api_versions(body, 0)[:2] == (42, 0)
    assert wire.broker_answers(bootstrap)


def test_truncated_frame_then_close_leaves_the_broker_serving(bootstrap):
    for _ in range(20):
        with wire.connect(bootstrap) as sock:
            frame = wire.api_versions_request(1, 0)
            sock.sendall(frame[: len(frame) // 2])
        with wire.connect(bootstrap) as sock:
            sock.sendall(struct.pack(">i", 1000) + b"\x00\x12")
            sock.shutdown(socket.SHUT_WR)
            # The broker must close its side too: it can never complete this frame.
            assert wire.wait_closed(sock, timeout_s=15)
    assert wire.broker_answers(bootstrap)
