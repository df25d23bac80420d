"""Benchmark of webhook deliveries on PostgreSQL.

    .venv/bin/python -m bench.webhooks [--deliveries N] [--creates N]

It copies a database from the test template, starts a receiver on
127.0.0.1 that returns 200 at once, and measures:

1. deliveries per second of one trytond-worker process (``-n 1``), from
   the first request the receiver gets to the last, beside a bare
   ``requests`` loop that posts the same signed payloads;
2. the time of contact creates, one transaction each, with no active
   webhook and with 3 webhooks subscribed to contact.created, in
   alternating rounds (the queue is left to fill: no worker runs during
   this part);
3. the time from the commit of a contact create to the first request of
   its delivery, with one trytond-worker process.

It prints the figures as a Markdown table.  Nothing is sent outside
127.0.0.1.
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid

from tests import harness
from tests.webhook_fixtures import Receiver, webhook_environment


def parse_arguments(argv):
    parser = argparse.ArgumentParser(prog='python -m bench.webhooks')
    parser.add_argument(
        '--deliveries', type=int, default=1000,
        help="deliveries of the throughput part (default: %(default)s)")
    parser.add_argument(
        '--creates', type=int, default=1000,
        help="contact creates of the overhead part (default: %(default)s)")
    parser.add_argument(
        '--latency-samples', type=int, default=200,
        help="contact creates of the latency part (default: %(default)s)")
    return parser.parse_args(argv)


def setup(workdir):
    name = f'crm_bench_hooks_{uuid.uuid4().hex[:6]}'
    with open(os.path.join(workdir, 'admin.log'), 'ab') as log:
        harness.create_database(name, workdir, log)
    environment = {
        **harness.base_environment(name, workdir),
        **webhook_environment(timeout='15', connect_timeout='5'),
        'TRYTOND_QUEUE__WORKER': 'True',
        }
    # The Tryton of this process must queue, not send.
    os.environ.update(
        {k: v for k, v in environment.items() if k.startswith('TRYTOND_')})
    return name, environment


def subscribe(tryton, receiver, count):
    with tryton.transaction(context=tryton.company_context()) as pool:
        Webhook = pool.get('crm.webhook')
        webhooks = Webhook.create([{
                    'name': f'bench {i}', 'url': receiver.url,
                    'event_types': ['contact.created']}
                for i in range(count)])
        return [w.id for w in webhooks]


def unsubscribe(tryton):
    "Delete the webhooks and the queue tasks left for their deliveries"
    with tryton.transaction() as pool:
        Webhook = pool.get('crm.webhook')
        Webhook.delete(Webhook.search([]))
        # A worker would otherwise spend minutes on tasks of deleted
        # deliveries before it reaches the next part's.
        Queue = pool.get('ir.queue')
        Queue.delete(Queue.search([('finished_at', '=', None)]))


def create_contacts(tryton, count, prefix):
    "Create contacts one transaction each; return the commit times"
    committed = {}
    for index in range(count):
        with tryton.transaction() as pool:
            contact, = pool.get('party.party').create([{
                        'kind': 'person', 'first_name': f'{prefix} {index}'}])
        committed[contact.id] = time.monotonic()
    return committed


def start_worker(environment, database, workdir):
    log = open(os.path.join(workdir, 'worker.log'), 'ab')
    return subprocess.Popen(
        [os.path.join(harness.BIN, 'trytond-worker'), '-d', database,
            '-n', '1', '-t', '1'],
        env=environment, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)


def stop(process):
    # The worker's pool processes outlive it unless the group is ended.
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(30)


def wait_for(receiver, count, timeout=600):
    deadline = time.monotonic() + timeout
    while len(receiver.requests) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{len(receiver.requests)} of {count} requests received")
        time.sleep(0.05)


def throughput(tryton, environment, database, workdir, count):
    import requests

    from crm_external_integrations import signing

    receiver = Receiver()
    subscribe(tryton, receiver, 1)
    create_contacts(tryton, count, 'Throughput')
    worker = start_worker(environment, database, workdir)
    try:
        wait_for(receiver, count)
    finally:
        stop(worker)
    times = [r.at for r in receiver.requests]
    worker_rate = (count - 1) / (max(times) - min(times))

    with tryton.transaction(readonly=True) as pool:
        Delivery = pool.get('crm.webhook.delivery')
        deliveries = Delivery.search([], limit=count)
        payloads = [(d.event_id, bytes(d.payload)) for d in deliveries]
        secrets = deliveries[0].webhook.signing_secrets()
    bare = Receiver()
    session = requests.Session()
    started = time.monotonic()
    for event_id, body in payloads:
        headers = signing.headers(secrets, event_id, int(time.time()), body)
        headers['content-type'] = 'application/json'
        session.post(bare.url, data=body, headers=headers, timeout=15)
    bare_rate = len(payloads) / (time.monotonic() - started)
    receiver.stop()
    bare.stop()
    unsubscribe(tryton)
    return worker_rate, bare_rate


def create_overhead(tryton, count, rounds=10):
    """Return the seconds of count creates without and with 3 webhooks

    The two kinds alternate in rounds, so that a change of the machine's
    load during the run weighs on both alike."""
    receiver = Receiver()
    create_contacts(tryton, 50, 'Warm up')
    webhooks = subscribe(tryton, receiver, 3)
    plain = subscribed = 0
    for _ in range(rounds):
        for active in [False, True]:
            with tryton.transaction() as pool:
                Webhook = pool.get('crm.webhook')
                Webhook.write(Webhook.browse(webhooks), {'active': active})
            started = time.monotonic()
            create_contacts(tryton, count // rounds, 'Overhead')
            elapsed = time.monotonic() - started
            if active:
                subscribed += elapsed
            else:
                plain += elapsed
    unsubscribe(tryton)
    receiver.stop()
    return plain, subscribed


def latency(tryton, environment, database, workdir, count):
    receiver = Receiver()
    subscribe(tryton, receiver, 1)
    worker = start_worker(environment, database, workdir)
    try:
        # Let the worker start before the clock runs.
        create_contacts(tryton, 1, 'Latency warm up')
        wait_for(receiver, 1, timeout=120)
        committed = {}
        for _ in range(count):
            committed.update(create_contacts(tryton, 1, 'Latency'))
            time.sleep(0.02)
        wait_for(receiver, count + 1)
    finally:
        stop(worker)
    samples = []
    for received in receiver.requests[1:]:
        contact_id = received.json()['data']['id']
        samples.append((received.at - committed[contact_id]) * 1000)
    receiver.stop()
    unsubscribe(tryton)
    quantiles = statistics.quantiles(samples, n=20)
    return statistics.median(samples), quantiles[18]


def main(argv=None):
    arguments = parse_arguments(argv or sys.argv[1:])
    if not harness.is_postgresql():
        sys.exit("Set TRYTOND_DATABASE_URI to a PostgreSQL server.")
    workdir = os.path.join(harness.ROOT, 'var', 'bench-webhooks')
    os.makedirs(workdir, exist_ok=True)
    database, environment = setup(workdir)
    try:
        tryton = harness.Tryton(database)
        worker_rate, bare_rate = throughput(
            tryton, environment, database, workdir, arguments.deliveries)
        plain, subscribed = create_overhead(tryton, arguments.creates)
        p50, p95 = latency(
            tryton, environment, database, workdir,
            arguments.latency_samples)
    finally:
        harness.drop_database(database, workdir)

    print("| Measure | Value | Target |")
    print("| --- | --- | --- |")
    print(f"| Deliveries/s, one trytond-worker process "
        f"({arguments.deliveries} deliveries) | {worker_rate:.1f} | |")
    print(f"| Deliveries/s, bare requests loop, same payloads | "
        f"{bare_rate:.1f} | |")
    print(f"| Worker / bare loop | {worker_rate / bare_rate:.2f}x "
        "| >= 0.5x |")
    print(f"| {arguments.creates} contact creates, no webhook | "
        f"{plain:.1f} s | |")
    print(f"| {arguments.creates} contact creates, 3 webhooks | "
        f"{subscribed:.1f} s | |")
    print(f"| With webhooks / without | {subscribed / plain:.2f}x "
        "| <= 1.25x |")
    print(f"| Commit to first attempt, p50 | {p50:.0f} ms | |")
    print(f"| Commit to first attempt, p95 | {p95:.0f} ms | |")


if __name__ == '__main__':
    main()
