"""The benchmark database: the modules, a company, accounts and contacts.

The database is built once from the test harness's template and kept
between runs.  A comment on the database records the digest of the module
sources and the number of contacts it was built with, so a run rebuilds it
only when either changed.  Contacts are inserted with plain SQL in a few
statements, which takes seconds for 100,000 where Tryton's ``create``
would take minutes.  They get the columns and the email and phone contact
mechanisms that the API reads, but no address.
"""
import logging

from psycopg import sql

from tests import harness

logger = logging.getLogger(__name__)

ACCOUNTS = 1000
CODE_PREFIX = 'bench-'
FIRST_NAMES = [
    'Ada', 'Charles', 'Mary', 'John', 'Hedy', 'Claude', 'Margaret',
    'Dennis', 'Barbara', 'Edsger', 'Frances', 'Donald', 'Grace', 'Alan',
    'Katherine', 'Ken', 'Radia', 'Tim', 'Sophie', 'Niklaus']
LAST_NAMES = [
    'Lovelace', 'Babbage', 'Somerville', 'Neumann', 'Lamarr', 'Shannon',
    'Hamilton', 'Ritchie', 'Liskov', 'Dijkstra', 'Allen', 'Knuth',
    'Hopper', 'Turing', 'Johnson', 'Thompson', 'Perlman', 'Berners-Lee',
    'Wilson', 'Wirth']
JOB_TITLES = ['CTO', 'Head of Sales', 'Buyer', 'CEO', 'Engineer']


def marker(contacts, digest=None):
    digest = digest or harness.sources_digest()
    return f'crm bench: sources {digest}, {contacts} contacts'


def ensure_database(name, contacts, workdir, log, rebuild=False,
        reuse=False):
    """Create and fill the database unless a matching one exists

    With reuse, a database built from other module sources matches too."""
    connection = harness._pg_connect()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT shobj_description(oid, 'pg_database') "
            "FROM pg_database WHERE datname = %s", (name,))
        row = cursor.fetchone()
    connection.close()
    built = row[0] if row else None
    if reuse and built and built.startswith('crm bench: sources '):
        digest = built.split()[3].rstrip(',')
        wanted = marker(contacts, digest)
    else:
        wanted = marker(contacts)
    if built == wanted and not rebuild:
        logger.info("reusing database %s (%s)", name, built)
        return False

    logger.info(
        "building database %s with %d contacts (a minute or two if the "
        "module template must be built first)", name, contacts)
    # The harness's template comes with the company set up already.
    harness.create_database(name, workdir, log)
    load_contacts(name, contacts)

    connection = harness._pg_connect()
    with connection.cursor() as cursor:
        # COMMENT takes no query parameters, so the text is quoted here.
        cursor.execute(sql.SQL('COMMENT ON DATABASE {} IS {}').format(
                sql.Identifier(name), sql.Literal(marker(contacts))))
    connection.close()
    return True


def load_contacts(name, contacts):
    "Insert ACCOUNTS organisations and the contacts with plain SQL"
    connection = harness._pg_connect(name)
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO party_party (code, code_alnum, code_digit, name, "
            "kind, active, create_date, create_uid) "
            "SELECT %s || 'account-' || g, 'benchaccount' || g, g, "
            "'Account ' || g, 'organisation', true, "
            "now() AT TIME ZONE 'UTC', 1 "
            "FROM generate_series(1, %s) AS g",
            (CODE_PREFIX, ACCOUNTS))
        cursor.execute(
            "SELECT min(id) FROM party_party WHERE code LIKE %s",
            (CODE_PREFIX + 'account-%',))
        first_account, = cursor.fetchone()

        # One statement for the contacts keeps their ids contiguous.
        cursor.execute(
            "INSERT INTO party_party (code, code_alnum, code_digit, name, "
            "first_name, last_name, job_title, kind, account, active, "
            "create_date, create_uid) "
            "SELECT %(prefix)s || g, 'bench' || g, g, "
            "(%(first)s::text[])[1 + g %% %(n_first)s] || ' ' "
            "|| (%(last)s::text[])[1 + (g / %(n_first)s) %% %(n_last)s], "
            "(%(first)s::text[])[1 + g %% %(n_first)s], "
            "(%(last)s::text[])[1 + (g / %(n_first)s) %% %(n_last)s], "
            "(%(jobs)s::text[])[1 + g %% %(n_jobs)s], 'person', "
            "%(account)s + g %% %(accounts)s, true, "
            "now() AT TIME ZONE 'UTC', 1 "
            "FROM generate_series(1, %(contacts)s) AS g ORDER BY g",
            {'prefix': CODE_PREFIX, 'first': FIRST_NAMES,
                'n_first': len(FIRST_NAMES), 'last': LAST_NAMES,
                'n_last': len(LAST_NAMES), 'jobs': JOB_TITLES,
                'n_jobs': len(JOB_TITLES), 'account': first_account,
                'accounts': ACCOUNTS, 'contacts': contacts})

        # Every contact has an email and every other one a phone number.
        cursor.execute(
            "INSERT INTO party_contact_mechanism (party, type, value, "
            "value_compact, active, create_date, create_uid) "
            "SELECT id, 'email', lower(first_name) || '.' || code_digit "
            "|| '@example.com', lower(first_name) || '.' || code_digit "
            "|| '@example.com', true, now() AT TIME ZONE 'UTC', 1 "
            "FROM party_party WHERE kind = 'person' AND code LIKE %s",
            (CODE_PREFIX + '%',))
        cursor.execute(
            "INSERT INTO party_contact_mechanism (party, type, value, "
            "value_compact, active, create_date, create_uid) "
            "SELECT id, 'phone', '+1 555 ' || lpad(code_digit::text, 7, '0'), "
            "'+1555' || lpad(code_digit::text, 7, '0'), true, "
            "now() AT TIME ZONE 'UTC', 1 "
            "FROM party_party WHERE kind = 'person' AND code LIKE %s "
            "AND code_digit %% 2 = 0",
            (CODE_PREFIX + '%',))
    with connection.cursor() as cursor:
        cursor.execute('VACUUM ANALYZE party_party')
        cursor.execute('VACUUM ANALYZE party_contact_mechanism')
    connection.close()


def contact_ids(name):
    "Return the first and last id of the loaded contacts"
    connection = harness._pg_connect(name)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(id), max(id), count(*) FROM party_party "
            "WHERE kind = 'person' AND code LIKE %s",
            (CODE_PREFIX + '%',))
        first, last, count = cursor.fetchone()
    connection.close()
    if last - first + 1 != count:
        raise RuntimeError(
            f"the loaded contacts of {name} have ids {first} to {last} with "
            f"gaps; rebuild the database with --rebuild")
    return first, last


def remove_created(name, last_loaded):
    "Delete the parties created by earlier runs, after the loaded ones"
    connection = harness._pg_connect(name)
    with connection.cursor() as cursor:
        cursor.execute(
            'DELETE FROM party_party WHERE id > %s', (last_loaded,))
        removed = cursor.rowcount
    connection.close()
    return removed


def rest_key(tryton, login='admin'):
    "Return a validated key of Tryton's REST application for the user"
    with tryton.transaction() as pool:
        User = pool.get('res.user')
        Application = pool.get('res.user.application')
        user, = User.search([('login', '=', login)])
        applications = Application.search([
                ('user', '=', user.id),
                ('application', '=', 'rest'),
                ('state', '=', 'validated'),
                ], limit=1)
        if not applications:
            applications = Application.create([{
                        'user': user.id, 'application': 'rest'}])
            Application.validate_([
                    a for a in applications if a.state == 'requested'])
        return applications[0].key


def api_key(tryton):
    "Issue a key with every scope for admin, dropping earlier bench keys"
    with tryton.transaction() as pool:
        ApiKey = pool.get('crm.api_key')
        ApiKey.delete(ApiKey.search([('name', '=', 'bench')]))
    return tryton.issue_key('all', name='bench')
