"""Deliveries sent by trytond-worker processes on PostgreSQL: none lost
when workers are killed mid-burst, none sent twice by racing workers.

These tests run on a database of their own, with ``[queue] worker`` on:
the API server only queues, trytond-worker sends, and crm-webhook-worker
queues again what a killed worker dropped."""
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from . import harness
from .conftest import Client
from .webhook_fixtures import (  # noqa: F401
    receiver, webhook_environment, webhook_worker)

pytestmark = pytest.mark.skipif(
    not harness.is_postgresql(), reason="trytond-worker needs PostgreSQL")


@pytest.fixture(scope='module')
def queue_database(workdir):
    name = f'crm_queue_{uuid.uuid4().hex[:8]}'
    with open(workdir / 'admin.log', 'ab') as log:
        harness.create_database(name, str(workdir), log)
    yield name
    harness.drop_database(name, str(workdir))


@pytest.fixture(scope='module')
def queue_environment(queue_database, workdir):
    return {
        **harness.base_environment(queue_database, str(workdir)),
        **webhook_environment(),
        'TRYTOND_QUEUE__WORKER': 'True',
        'TRYTOND_CRM_API__RATE_LIMIT': '100000',
        }


@pytest.fixture(scope='module')
def queue_client(queue_environment, queue_database, workdir):
    server = harness.Server(
        queue_environment, queue_database, str(workdir / 'queue-server.log'))
    server.start()
    key = subprocess.run(
        [sys.executable, '-m', 'crm_public_api.cli', 'api-key', 'create',
            '--name', 'queue tests', '--scopes', 'all'],
        env=queue_environment, capture_output=True, check=True,
        text=True).stdout.strip()
    yield Client(server.api, key)
    server.stop()


@contextlib.contextmanager
def trytond_workers(environment, database, log_path):
    "Start trytond-worker processes; yield a function that kills them"
    groups = []

    def start():
        with open(log_path, 'ab') as log:
            process = subprocess.Popen(
                [os.path.join(harness.BIN, 'trytond-worker'), '-d', database,
                    '-n', '2', '-t', '1'],
                env=environment, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        groups.append(process)
        return process

    def kill(process):
        # SIGKILL the worker and its pool processes mid-task.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    try:
        yield start, kill
    finally:
        for process in groups:
            if process.poll() is None:
                kill(process)


def all_deliveries(client, webhook_id):
    return client.walk(f'/webhooks/{webhook_id}/deliveries')


def wait_until_delivered(client, webhook_id, count, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deliveries = all_deliveries(client, webhook_id)
        if len(deliveries) == count and all(
                d['status'] == 'succeeded' for d in deliveries):
            return deliveries
        time.sleep(0.5)
    states = [d['status'] for d in all_deliveries(client, webhook_id)]
    raise AssertionError(f"not all {count} delivered in {timeout} s: {states}")


def subscribe(client, receiver):
    response = client.post('/webhooks', json={
            'name': 'queue hook', 'url': receiver.url,
            'event_types': ['contact.created']})
    assert response.status_code == 201, response.text
    return response.json()


def test_killed_workers_lose_no_delivery(
        queue_client, queue_environment, queue_database, workdir, receiver):
    def slow(received):
        time.sleep(0.05)
        return 200, {}
    receiver.respond = slow
    webhook = subscribe(queue_client, receiver)
    rounds, burst = 3, 10

    with webhook_worker(
                queue_environment, queue_database,
                workdir / 'queue-webhook-worker.log',
                requeue_after='3') as _, \
            trytond_workers(
                queue_environment, queue_database,
                workdir / 'queue-worker.log') as (start, kill):
        worker = start()
        for _ in range(rounds):
            for index in range(burst):
                created = queue_client.post(
                    '/contacts', json={'first_name': f'Burst {index}'})
                assert created.status_code == 201, created.text
            receiver.wait_for(len(receiver.requests) + 2, timeout=60)
            kill(worker)
            worker = start()
        deliveries = wait_until_delivered(
            queue_client, webhook['id'], rounds * burst)
    queue_client.delete(f"/webhooks/{webhook['id']}")

    received_ids = {r.id for r in receiver.requests}
    assert {d['event_id'] for d in deliveries} <= received_ids
    assert len(received_ids) == rounds * burst
    # At least once: a repeat keeps its event id and body.
    bodies = {}
    for received in receiver.requests:
        assert bodies.setdefault(received.id, received.body) == received.body


def race(client, environment, database, workdir, name, webhook, count):
    """Send the deliveries of webhook with two racing trytond-worker
    processes of two pool processes each, and return them once delivered

    With requeue_after at 0, every scan queues every due delivery again,
    so the workers race for the same deliveries all along."""
    with webhook_worker(
                environment, database, workdir / f'{name}-webhook-worker.log',
                requeue_after='0', poll_interval='0.5') as _, \
            trytond_workers(
                environment, database,
                workdir / f'{name}-worker.log') as (start, kill):
        start()
        start()
        return wait_until_delivered(client, webhook['id'], count)


def assert_sent_once(receiver, deliveries):
    received_ids = [r.id for r in receiver.requests]
    assert sorted(received_ids) == sorted(d['event_id'] for d in deliveries)
    assert all(d['attempt_count'] == 1 for d in deliveries)


def test_racing_workers_never_send_one_attempt_twice(
        queue_client, queue_environment, queue_database, workdir, receiver):
    webhook = subscribe(queue_client, receiver)
    count = 20
    for index in range(count):
        queue_client.post('/contacts', json={'first_name': f'Race {index}'})

    deliveries = race(
        queue_client, queue_environment, queue_database, workdir, 'race',
        webhook, count)
    queue_client.delete(f"/webhooks/{webhook['id']}")

    assert_sent_once(receiver, deliveries)


def test_slow_receiver_gets_each_delivery_once(
        queue_client, queue_environment, queue_database, workdir, receiver):
    """A claim of several deliveries to a receiver that responds in 2 s
    would outlast its 8 s lease: the sender stops in time and releases the
    rest, so the racing workers still send each delivery once."""
    def slow(received):
        time.sleep(2)
        return 200, {}
    receiver.respond = slow
    webhook = subscribe(queue_client, receiver)
    count = 6
    # Queued before any worker runs, so that the first claim takes them all.
    for index in range(count):
        created = queue_client.post(
            '/contacts', json={'first_name': f'Slow {index}'})
        assert created.status_code == 201, created.text

    deliveries = race(
        queue_client, queue_environment, queue_database, workdir, 'slow',
        webhook, count)
    queue_client.delete(f"/webhooks/{webhook['id']}")

    assert_sent_once(receiver, deliveries)
