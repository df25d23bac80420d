"""Command line management of API keys.

    python -m crm_public_api.cli api-key create --name NAME \
        --scopes contacts:read,deals:write [--expires YYYY-MM-DD] \
        [--user LOGIN] [--rate-limit N]
    python -m crm_public_api.cli api-key list
    python -m crm_public_api.cli api-key revoke PREFIX_OR_ID

The database is ``[crm_api] database`` of the Tryton configuration
(``TRYTOND_CONFIG``, or ``TRYTOND_CRM_API__DATABASE``) unless --database
names another.  ``create`` prints the new key alone on standard output;
it is shown this once and cannot be recovered.
"""
import argparse
import datetime as dt
import sys


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='run')
    parser.add_argument('--database', help="Tryton database name")
    commands = parser.add_subparsers(dest='group', required=True)
    api_key = commands.add_parser('api-key', help="manage API keys")
    actions = api_key.add_subparsers(dest='action', required=True)

    create = actions.add_parser('create', help="issue a new key")
    create.add_argument('--name', required=True, help="what the key is for")
    create.add_argument(
        '--scopes', required=True,
        help="comma separated scopes, such as contacts:read,deals:write, "
        "or 'all'")
    create.add_argument(
        '--expires', type=parse_date, metavar='YYYY-MM-DD',
        help="last day the key works (UTC); never expires by default")
    create.add_argument(
        '--user', default='admin',
        help="login of the Tryton user the key acts for (default: admin)")
    create.add_argument(
        '--rate-limit', type=int, metavar='N',
        help="requests per minute for this key (default: the server's)")

    actions.add_parser('list', help="list keys without their secrets")

    revoke = actions.add_parser('revoke', help="revoke a key at once")
    revoke.add_argument('key', help="the key's prefix (crm_XXXXXXXX) or id")
    return parser.parse_args(argv)


def parse_date(text):
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid date {text!r}; use YYYY-MM-DD") from None


def main(argv=None):
    options = parse_args(sys.argv[1:] if argv is None else argv)

    from trytond import config
    database = options.database or config.get(
        'crm_api', 'database', default=None)
    if not database:
        sys.exit(
            "error: no database; pass --database or set [crm_api] database")

    from trytond.pool import Pool
    from trytond.transaction import Transaction
    Pool.start()
    pool = Pool(database)
    with Transaction().start(database, 0, readonly=True):
        pool.init()

    with Transaction().start(database, 0) as transaction:
        try:
            status = ACTIONS[options.action](pool, options)
        except ValueError as exception:
            transaction.rollback()
            sys.exit(f"error: {exception}")
        transaction.commit()
    return status


def create(pool, options):
    from . import scopes
    ApiKey = pool.get('crm.api_key')
    User = pool.get('res.user')
    users = User.search([('login', '=', options.user)], limit=1)
    if not users:
        raise ValueError(f"no user with login {options.user!r}")
    text = options.scopes
    if text.strip() == 'all':
        text = ' '.join(scopes.SCOPES)
    scope_list = scopes.parse(text)
    if options.rate_limit is not None and options.rate_limit < 1:
        raise ValueError("--rate-limit must be at least 1")
    expires_at = None
    if options.expires:
        # The key works through the whole expiry day, UTC.
        expires_at = dt.datetime.combine(
            options.expires + dt.timedelta(days=1), dt.time())
        if expires_at <= dt.datetime.now(dt.timezone.utc).replace(
                tzinfo=None):
            raise ValueError("--expires must not be in the past")
    _, key = ApiKey.issue(
        options.name, scope_list, users[0].id, expires_at=expires_at,
        rate_limit=options.rate_limit)
    print(key)
    return 0


def list_keys(pool, options):
    ApiKey = pool.get('crm.api_key')
    rows = [("ID", "PREFIX", "NAME", "STATE", "SCOPES", "EXPIRES", "LAST USED")]
    for api_key in ApiKey.search([], order=[('id', 'ASC')]):
        rows.append((
                str(api_key.id), api_key.prefix, api_key.name,
                api_key.state, api_key.scopes.replace(' ', ','),
                _time(api_key.expires_at), _time(api_key.last_used_at)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print('  '.join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


def revoke(pool, options):
    ApiKey = pool.get('crm.api_key')
    if options.key.isdigit():
        domain = [('id', '=', int(options.key))]
    else:
        domain = [('prefix', '=', options.key[:12])]
    api_keys = ApiKey.search(domain)
    if not api_keys:
        raise ValueError(f"no API key {options.key!r}")
    ApiKey.revoke(api_keys)
    for api_key in api_keys:
        print(f"revoked {api_key.prefix} ({api_key.name})", file=sys.stderr)
    return 0


def _time(value):
    return value.strftime('%Y-%m-%dT%H:%M:%SZ') if value else '-'


ACTIONS = {'create': create, 'list': list_keys, 'revoke': revoke}

if __name__ == '__main__':
    sys.exit(main())
