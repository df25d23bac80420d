"""Guard against server-side request forgery through webhook URLs.

A webhook URL is chosen by an API client, so without a guard the CRM
server would post to whatever it can reach: its own loopback services,
the private network it runs in, or a cloud provider's metadata service.
Only http and https are accepted, and every address that the host name
resolves to must be public.  The check runs when a webhook is saved and
again before each request, and the request then connects to the address
that passed the check, so a DNS answer that changes between the check and
the connection cannot redirect it.

An administrator lifts the guard for chosen networks with the
``allow_networks`` option of the ``crm_webhook`` configuration section
(comma separated CIDR blocks, such as ``127.0.0.0/8`` for a local demo).
"""
import ipaddress
import socket
import urllib.parse

CGNAT = ipaddress.ip_network('100.64.0.0/10')
# Metadata services of cloud providers.  Most sit in link-local or shared
# space already; they are listed to name the reason in the error.
METADATA = {
    ipaddress.ip_address('169.254.169.254'),
    ipaddress.ip_address('169.254.170.2'),
    ipaddress.ip_address('100.100.100.200'),
    ipaddress.ip_address('fd00:ec2::254'),
    }
IPV4_COMPATIBLE = ipaddress.ip_network('::/96')
SCHEMES = {'http': 80, 'https': 443}


class GuardError(ValueError):
    "A webhook URL that must not be requested"
    kind = 'invalid'


class InvalidURL(GuardError):
    pass


class ResolutionFailed(GuardError):
    kind = 'unresolvable'


class BlockedAddress(GuardError):
    kind = 'blocked'

    def __init__(self, host, address, reason):
        if _is_literal(host, address):
            text = f"{host} is a blocked address ({reason})"
        else:
            text = (f"{host} resolves to {address}, a blocked address "
                f"({reason})")
        super().__init__(text)
        self.address = address
        self.reason = reason


def _is_literal(host, address):
    "Tell whether host is address written out, in any IP notation"
    try:
        return ipaddress.ip_address(host) == address
    except ValueError:
        return False


def classify(address):
    """Return why an address must not be requested, or None when it is
    public

    address is an ipaddress.IPv4Address or IPv6Address."""
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return 'IPv4-mapped IPv6'
        if address in IPV4_COMPATIBLE and not address.is_unspecified \
                and not address.is_loopback:
            return 'IPv4-compatible IPv6'
    if address in METADATA:
        return 'cloud metadata'
    if address.is_unspecified:
        return 'unspecified'
    if address.is_loopback:
        return 'loopback'
    if address.is_multicast:
        return 'multicast'
    if address.is_link_local:
        return 'link-local'
    if address.version == 4 and address in CGNAT:
        return 'shared (CGNAT)'
    if address.is_private:
        return 'private'
    if address.is_reserved:
        return 'reserved'
    if not address.is_global:
        return 'non-public'
    return None


def parse_networks(text):
    "Return the networks of a comma separated CIDR list or raise ValueError"
    networks = []
    for item in (text or '').split(','):
        item = item.strip()
        if item:
            networks.append(ipaddress.ip_network(item, strict=False))
    return networks


def check_address(host, address, allowed):
    "Raise BlockedAddress unless the address is public or allowed"
    if any(address.version == n.version and address in n for n in allowed):
        return
    reason = classify(address)
    if reason:
        raise BlockedAddress(host, address, reason)


class Target:
    "Where a request goes: the URL's parts and the checked addresses"

    def __init__(self, scheme, host, port, path, addresses):
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = path
        self.addresses = addresses

    @property
    def host_header(self):
        host = f'[{self.host}]' if ':' in self.host else self.host
        if self.port == SCHEMES[self.scheme]:
            return host
        return f'{host}:{self.port}'


def split_url(url):
    "Return the scheme, host, port and path of a URL or raise InvalidURL"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exception:
        raise InvalidURL(str(exception)) from exception
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidURL("only http and https URLs are supported")
    if not parts.hostname:
        raise InvalidURL("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidURL(
            "the URL must not contain a user name or password")
    if parts.fragment:
        raise InvalidURL("the URL must not contain a fragment")
    path = parts.path or '/'
    if parts.query:
        path += '?' + parts.query
    return scheme, parts.hostname, port or SCHEMES[scheme], path


def redact(url):
    "Return url with the password of its user information masked"
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if password is None:
        return url
    user_info, _, host = parts.netloc.rpartition('@')
    user = user_info.split(':', 1)[0]
    return parts._replace(netloc=f'{user}:***@{host}').geturl()


def resolve(host, port):
    "Return the addresses of a host name or literal, or raise"
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exception:
        raise ResolutionFailed(
            f"the host {host} cannot be resolved: {exception}") from exception
    addresses = []
    for _, _, _, _, sockaddr in infos:
        # Drop an IPv6 scope such as %eth0.
        address = ipaddress.ip_address(sockaddr[0].split('%', 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ResolutionFailed(f"the host {host} has no address")
    return addresses


def check_url(url, allowed):
    """Return the Target of a URL whose every address passes the guard

    Raises InvalidURL, ResolutionFailed or BlockedAddress.  A host with
    one blocked address among public ones is rejected whole, as a DNS
    answer that mixes them is more likely a trick than a mistake."""
    scheme, host, port, path = split_url(url)
    addresses = resolve(host, port)
    for address in addresses:
        check_address(host, address, allowed)
    return Target(scheme, host, port, path, addresses)
