"""Connections to hosts a tenant configured (its SMTP server, its IMAP mailbox): public
addresses only.

A tenant admin names a host and our server connects to it, and shows what answered: pointed
at 127.0.0.1, 169.254.169.254 or a name inside our network, that would reach (and describe)
our own services (SSRF). So the name is resolved once, every address it resolves to is
checked, and the socket is connected to one of those checked addresses, never to the name
again: a resolver that answers a public address to the check and a private one to the connect
(DNS rebinding) gets nowhere. TLS is then wrapped with the host name, so the certificate is
still verified against the name the tenant gave.

The platform may allow private addresses (a mail server on its own network, the test suite's
servers on loopback): OUTBOUND_SMTP_ALLOW_PRIVATE_HOSTS, INBOUND_IMAP_ALLOW_PRIVATE_HOSTS.
"""

import ipaddress
import socket


class PrivateAddressError(OSError):
    """The host resolves to a loopback, private, link-local or reserved address."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone ("fe80::1%eth0")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int, *, allow_private: bool = False) -> list[tuple]:
    """getaddrinfo's TCP answers for `host`, once; PrivateAddressError if any is not public,
    socket.gaierror (for the caller to word) if the name does not resolve.

    Every address is checked, not just the first: a name answering one public and one private
    address would otherwise reach the private one whenever the public one fails.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:  # a label too long for IDNA; as the resolver would answer
        raise socket.gaierror(socket.EAI_NONAME, "not a valid host name") from exc
    if not allow_private:
        for info in infos:
            address = str(info[4][0])
            if not is_public(address):
                raise PrivateAddressError(f"{host} is not a public address ({address})")
    return infos


def check_public(host: str, port: int, *, allow_private: bool = False) -> None:
    """Raise PrivateAddressError unless every address `host` resolves to is public."""
    resolve(host, port, allow_private=allow_private)


def connect(host: str, port: int, *, timeout: float | None, allow_private: bool) -> socket.socket:
    """A TCP socket to one of the checked addresses of `host` (tried in resolver order)."""
    last: OSError | None = None
    for family, type_, proto, _, sockaddr in resolve(host, port, allow_private=allow_private):
        sock = socket.socket(family, type_, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock
    raise last or OSError(f"cannot resolve {host}: no addresses")
