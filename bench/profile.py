"""Profile of the public API's GET and list path, without HTTP.

Requests go straight into trytond's WSGI application through Werkzeug's
test client, in this process and one thread, so the profile shows the
dispatch, authentication, transactions, search, read and serialisation of
our path without the server's socket handling.  Reports sorted by
cumulative and by own time are written under var/bench/.
"""
import cProfile
import io
import logging
import os
import pstats
import random
import time

from werkzeug.test import Client

from . import PAGE

logger = logging.getLogger(__name__)


def paths(first_id, last_id, count):
    rng = random.Random(1)
    return {
        'get': [
            f'/api/v1/crm/contacts/{rng.randint(first_id, last_id)}'
            for _ in range(count)],
        'list': [f'/api/v1/crm/contacts?limit={PAGE}'] * count,
        }


def run(database, api_key, first_id, last_id, count, workdir):
    "Profile count GET and count list requests; write and log the reports"
    from trytond.wsgi import app

    client = Client(app)
    headers = {'Authorization': f'Bearer {api_key}'}
    for operation, urls in paths(first_id, last_id, count).items():
        # The first requests fill Tryton's caches; they are not profiled.
        for url in urls[:20]:
            client.get(url, headers=headers)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for url in urls:
            response = client.get(url, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(
                    f"profiling {url}: HTTP {response.status_code} "
                    f"{response.get_data(as_text=True)[:300]}")
        profiler.disable()
        elapsed = time.perf_counter() - started
        logger.info(
            "profiled %d %s requests: %.2f ms each in-process (with the "
            "profiler's overhead)", count, operation, elapsed / count * 1000)
        path = os.path.join(workdir, f'profile-{operation}.txt')
        with open(path, 'w') as report:
            report.write(summary(profiler))
        profiler.dump_stats(os.path.join(workdir, f'profile-{operation}.prof'))
        logger.info("profile of %s written to %s", operation, path)


def summary(profiler, lines=40):
    output = io.StringIO()
    stats = pstats.Stats(profiler, stream=output)
    stats.strip_dirs()
    stats.sort_stats('cumulative').print_stats(lines)
    stats.sort_stats('tottime').print_stats(lines)
    return output.getvalue()
