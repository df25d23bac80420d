"""Keep a process's own network traffic on loopback.

tests/test_api_schema.py puts this directory on PYTHONPATH of the server
that schemathesis fuzzes, so Python imports this module at start-up.
Fuzzed requests create webhooks whose URLs name arbitrary hosts.  Here
only IP literals and "localhost" resolve, and a socket may connect only to
a loopback address, so neither a DNS query nor a webhook delivery leaves
the machine.  Connections made by C libraries, such as libpq's to
PostgreSQL, do not pass through Python's socket module and are left alone.
"""
import ipaddress
import socket

_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _is_local_name(host):
    if host is None or host in {'localhost', b'localhost'}:
        return True
    if isinstance(host, bytes):
        host = host.decode('ascii', 'replace')
    try:
        ipaddress.ip_address(host.split('%', 1)[0])
    except ValueError:
        return False
    return True


def getaddrinfo(host, *args, **kwargs):
    if not _is_local_name(host):
        raise socket.gaierror(
            socket.EAI_NONAME, f"{host!r} is not resolved in this test")
    return _getaddrinfo(host, *args, **kwargs)


def _check_address(sock, address):
    if sock.family not in {socket.AF_INET, socket.AF_INET6}:
        return
    host = address[0].split('%', 1)[0]
    if not ipaddress.ip_address(host).is_loopback:
        raise ConnectionRefusedError(
            f"connections to {host} are blocked in this test")


def connect(self, address):
    _check_address(self, address)
    return _connect(self, address)


def connect_ex(self, address):
    _check_address(self, address)
    return _connect_ex(self, address)


def _local_lookup(function):
    def lookup(host):
        if not _is_local_name(host):
            raise socket.gaierror(
                socket.EAI_NONAME, f"{host!r} is not resolved in this test")
        return function(host)
    return lookup


socket.getaddrinfo = getaddrinfo
socket.gethostbyname = _local_lookup(socket.gethostbyname)
socket.gethostbyname_ex = _local_lookup(socket.gethostbyname_ex)
socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
