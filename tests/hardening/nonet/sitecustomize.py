"""Test-only network guard, loaded by the interpreter when this folder is on
PYTHONPATH. Every outbound connection / name lookup is recorded (to the file
named by MRI_MEASURE_NET_LOG) and refused unless it targets loopback."""

from __future__ import annotations

import os
import socket

_LOOPBACK = ("127.", "::1", "localhost", "0.0.0.0")
_orig_connect = socket.socket.connect
_orig_connect_ex = socket.socket.connect_ex
_orig_getaddrinfo = socket.getaddrinfo
_orig_create_connection = socket.create_connection


def _record(what: str) -> None:
    path = os.environ.get("MRI_MEASURE_NET_LOG")
    if path:
        with open(path, "a") as f:
            f.write(what + "\n")


def _host(address) -> str:
    if isinstance(address, (tuple, list)) and address:
        return str(address[0])
    return "unix:" + str(address)


def _check(address) -> None:
    host = _host(address)
    if host.startswith("unix:") or host.startswith(_LOOPBACK):
        if not host.startswith("unix:"):
            _record(host)
        return
    _record(host)
    raise OSError(101, f"network disabled in tests: refused connection to {host}")


def _connect(self, address):
    _check(address)
    return _orig_connect(self, address)


def _connect_ex(self, address):
    _check(address)
    return _orig_connect_ex(self, address)


def _getaddrinfo(host, *args, **kwargs):
    if host is not None and not str(host).startswith(_LOOPBACK) and str(host) not in ("", "localhost"):
        _record(str(host))
        raise socket.gaierror(-2, f"network disabled in tests: no lookup of {host}")
    return _orig_getaddrinfo(host, *args, **kwargs)


def install() -> None:
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex
    socket.getaddrinfo = _getaddrinfo


def uninstall() -> None:
    socket.socket.connect = _orig_connect
    socket.socket.connect_ex = _orig_connect_ex
    socket.getaddrinfo = _orig_getaddrinfo


if os.environ.get("MRI_MEASURE_NET_LOG"):
    install()
