"""Run the benchmark: ``./run bench [--duration S] [--connections N] ...``

See bench/__init__.py for what is measured and docs/performance.md for the
figures.  A run builds or reuses the database and starts one trytond
server (public API and /rest) and the minimal app on 127.0.0.1.  It checks
that the three return the same records, loads each with wrk for every
operation and prints the table of figures and ratios.  Results are also
written as JSON and Markdown under var/bench/.
"""
import argparse
import datetime as dt
import json
import logging
import os
import sys

from tests import harness

from . import APPS, DEEP_POSITION, OPERATIONS, dataset, load

logger = logging.getLogger('bench')

WORKDIR = os.path.join(harness.ROOT, 'var', 'bench')
# High enough that the rate limiter never rejects a bench request.
RATE_LIMIT = 1_000_000_000


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog='./run bench',
        description="Benchmark the public API against Tryton's /rest and a "
        "minimal psycopg2 app on the same PostgreSQL database.")
    parser.add_argument(
        '--database', default='crm_bench',
        help="database to build or reuse (default: %(default)s)")
    parser.add_argument(
        '--contacts', type=int, default=100_000,
        help="contacts to load (default: %(default)s)")
    parser.add_argument(
        '--rebuild', action='store_true',
        help="drop and rebuild the database even if it matches")
    parser.add_argument(
        '--reuse', action='store_true',
        help="reuse the database even if the module sources changed since "
        "it was built; enough while only Python code changed")
    parser.add_argument(
        '--duration', type=int, default=15,
        help="seconds of load per app and operation (default: %(default)s)")
    parser.add_argument(
        '--rounds', type=int, default=3,
        help="turns of the apps per operation; each turn lasts duration / "
        "rounds seconds, rounded down (default: %(default)s)")
    parser.add_argument(
        '--warmup', type=int, default=3,
        help="seconds of unrecorded load before each measurement "
        "(default: %(default)s)")
    parser.add_argument(
        '--connections', type=int, default=4,
        help="concurrent connections of the load generator "
        "(default: %(default)s)")
    parser.add_argument(
        '--max-requests', type=int, default=50_000,
        help="request budget of each measurement; it stops at the "
        "duration or the budget, whichever comes first "
        "(default: %(default)s)")
    parser.add_argument(
        '--operations', default=','.join(OPERATIONS),
        help="comma separated subset of %(default)s; empty to only "
        "profile")
    parser.add_argument(
        '--profile', type=int, default=0, metavar='REQUESTS',
        help="also profile the public API's GET and list path in-process "
        "with cProfile over this many requests each, and write the "
        "reports under var/bench/")
    options = parser.parse_args(argv)
    options.operations = [o for o in options.operations.split(',') if o]
    unknown = set(options.operations) - set(OPERATIONS)
    if unknown:
        parser.error(f"unknown operations: {', '.join(sorted(unknown))}")
    if options.contacts <= DEEP_POSITION:
        parser.error(
            f"--contacts must exceed the deep page position "
            f"{DEEP_POSITION}")
    return options


def main(argv=None):
    options = parse_arguments(argv)
    logging.basicConfig(
        level=logging.INFO, format='%(asctime)s %(message)s',
        datefmt='%H:%M:%S')
    logging.getLogger('trytond').setLevel(logging.WARNING)
    if not harness.is_postgresql():
        logger.error(
            "The benchmark needs PostgreSQL: set TRYTOND_DATABASE_URI or use "
            "./run bench.")
        return 2
    load.check_wrk()
    load_before = os.getloadavg()[0]
    os.makedirs(WORKDIR, exist_ok=True)

    with open(os.path.join(WORKDIR, 'admin.log'), 'ab') as log:
        dataset.ensure_database(
            options.database, options.contacts, WORKDIR, log,
            rebuild=options.rebuild, reuse=options.reuse)
    first_id, last_id = dataset.contact_ids(options.database)
    removed = dataset.remove_created(options.database, last_id)
    if removed:
        logger.info("removed %d parties created by an earlier run", removed)

    # Tryton reads its settings from the environment once, when first
    # imported: by apps and report below, and by the in-process Tryton that
    # issues the keys.
    environment = harness.base_environment(options.database, WORKDIR)
    environment['TRYTOND_CRM_API__RATE_LIMIT'] = str(RATE_LIMIT)
    os.environ.update(
        {k: v for k, v in environment.items() if k.startswith('TRYTOND_')})
    from . import apps, report
    tryton = harness.Tryton(options.database)
    api_key = dataset.api_key(tryton)
    rest_key = dataset.rest_key(tryton)

    if options.profile:
        from . import profile
        profile.run(
            options.database, api_key, first_id, last_id, options.profile,
            WORKDIR)

    if not options.operations:
        return 0

    server = harness.Server(
        environment, options.database,
        os.path.join(WORKDIR, 'trytond.log'))
    minimal = apps.MinimalServer(
        apps.minimal_environment(), options.database,
        os.path.join(WORKDIR, 'minimal.log'))
    try:
        server.start()
        minimal.start()
        targets = apps.Targets(
            options.database, server.url, minimal.url, api_key, rest_key,
            first_id, last_id,
            deep_after=first_id + DEEP_POSITION - 1,
            deep_offset=count_persons_to(
                options.database, first_id + DEEP_POSITION - 1))
        apps.check(targets)
        pids = {
            'api': server.process.pid, 'rest': server.process.pid,
            'minimal': minimal.process.pid}
        results = measure(targets, options, pids)
    finally:
        minimal.stop()
        server.stop()
        dataset.remove_created(options.database, last_id)

    table = report.build(results, options, load_before)
    print(report.markdown(table))
    stamp = dt.datetime.now().strftime('%Y%m%dT%H%M%S')
    with open(os.path.join(WORKDIR, f'results-{stamp}.json'), 'w') as out:
        json.dump(table, out, indent=2)
    with open(os.path.join(WORKDIR, f'results-{stamp}.md'), 'w') as out:
        out.write(report.markdown(table) + '\n')
    logger.info("results written to var/bench/results-%s.{json,md}", stamp)
    return 0


def measure(targets, options, pids):
    """Load every app with every operation and return the Measurements

    The apps of an operation take turns: each measurement is cut into
    --rounds runs, so that other work on the machine, which comes and goes,
    falls on the three apps alike."""
    results = {}
    for operation in options.operations:
        requests = {app: targets.request(app, operation) for app in APPS}
        if options.warmup:
            for app in APPS:
                load.run(
                    requests[app], options.connections, options.warmup,
                    options.max_requests)
        for _ in range(options.rounds):
            for app in APPS:
                result = measure_once(
                    requests[app], options, pids[app])
                if (operation, app) in results:
                    result = results[operation, app] + result
                results[operation, app] = result
        for app in APPS:
            result = results[operation, app]
            logger.info(
                "%-10s %-7s %7.1f req/s  p50 %6.1f ms  p99 %6.1f ms  "
                "server CPU %5.1f ms/request  %d requests, %d errors, "
                "load average %.1f", operation, app, result.throughput,
                result.p50_ms, result.p99_ms, result.server_cpu_ms,
                result.requests, result.errors, result.load_average)
    return results


def measure_once(request, options, pid):
    "Return the Measurement of one run, with the server's CPU time"
    cpu_before = load.cpu_seconds(pid)
    result = load.run(
        request, options.connections,
        max(1, options.duration // options.rounds),
        max(1, options.max_requests // options.rounds))
    result.server_cpu_seconds = load.cpu_seconds(pid) - cpu_before
    # The load average includes the bench's own processes.
    result.load_averages = [os.getloadavg()[0]]
    return result


def count_persons_to(database, last_id):
    "Return the offset of the contact after last_id in an id-ordered walk"
    connection = harness._pg_connect(database)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM party_party "
            "WHERE kind = 'person' AND active AND id <= %s", (last_id,))
        count, = cursor.fetchone()
    connection.close()
    return count


if __name__ == '__main__':
    sys.exit(main())
