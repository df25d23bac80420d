"""Real parts of the webhook tests: HTTP receivers on loopback, an API
server and a crm-webhook-worker with compressed retry settings.

Test modules import the fixtures they use from here.  Every receiver
listens on 127.0.0.1 or ::1, and the address guard is lifted only for
those (``allow_networks``), so nothing is ever sent elsewhere.
"""
import contextlib
import http.server
import os
import socket
import subprocess
import threading
import time

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from . import harness
from .conftest import Client

LOOPBACK = '127.0.0.0/8,::1/128'
# Retries after 1, 2, 3, 4 and 5 seconds (plus up to 10 %), attempts cut
# after 3 s, and due deliveries scanned five times a second.
SETTINGS = {
    'allow_networks': LOOPBACK,
    'retry_schedule': '1,2,3,4,5',
    'retry_jitter': '0.1',
    'connect_timeout': '1',
    'timeout': '3',
    'lease': '5',
    'requeue_after': '1',
    'poll_interval': '0.2',
    }
SUBSCRIBABLE = [
    'contact.created', 'contact.updated', 'contact.deleted',
    'account.created', 'account.updated', 'account.deleted',
    'deal.created', 'deal.updated', 'deal.deleted', 'deal.stage_changed',
    'deal.won', 'deal.lost',
    'activity.created', 'activity.updated', 'activity.deleted',
    ]


def webhook_environment(**overrides):
    settings = {**SETTINGS, **overrides}
    return {
        f'TRYTOND_CRM_WEBHOOK__{name.upper()}': str(value)
        for name, value in settings.items()}


class Received:
    "One request as the receiver got it"

    def __init__(self, at, path, headers, body):
        self.at = at
        self.path = path
        self.headers = headers
        self.body = body

    @property
    def id(self):
        return self.headers['webhook-id']

    def json(self):
        import json
        return json.loads(self.body)


class Receiver:
    """An HTTP server on loopback that records every request

    Responses come from ``respond(received)`` when set, else from the
    ``statuses`` list in order, else 200."""

    def __init__(self, host='127.0.0.1', port=0):
        self.requests = []
        self.statuses = []
        self.respond = None
        self.condition = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            # Headers and body go out in two writes; without this, the
            # client's delayed acknowledgement adds 40 ms to each request.
            disable_nagle_algorithm = True

            def do_POST(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length)
                received = Received(
                    time.monotonic(), self.path,
                    {k.lower(): v for k, v in self.headers.items()}, body)
                status, headers, content = receiver._response(received)
                with receiver.condition:
                    receiver.requests.append(received)
                    receiver.condition.notify_all()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header('Content-Length', str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args):
                pass

        server_class = http.server.ThreadingHTTPServer
        if ':' in host:
            server_class = type(
                'Server6', (server_class,),
                {'address_family': socket.AF_INET6})
        self.server = server_class((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.host = host
        self.thread = threading.Thread(
            target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        host = f'[{self.host}]' if ':' in self.host else self.host
        return f'http://{host}:{self.port}/hook'

    def _response(self, received):
        if self.respond:
            result = self.respond(received)
            if len(result) == 2:
                return (*result, b'')
            return result
        with self.condition:
            if self.statuses:
                return self.statuses.pop(0), {}, b''
        return 200, {}, b'ok'

    def wait_for(self, count, timeout=20):
        "Return the requests once there are count of them, or fail"
        deadline = time.monotonic() + timeout
        with self.condition:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    types = [r.json().get('type') for r in self.requests]
                    pytest.fail(
                        f"{len(self.requests)} of {count} requests "
                        f"received in {timeout} s: {types}")
                self.condition.wait(left)
            return list(self.requests)

    def stay_quiet(self, seconds):
        "Fail if a request arrives within seconds"
        count = len(self.requests)
        time.sleep(seconds)
        assert len(self.requests) == count, [
            r.json()['type'] for r in self.requests[count:]]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class ConnectionCounter:
    "A TCP listener on loopback that counts connections and answers nothing"

    def __init__(self, host='127.0.0.1'):
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.bind((host, 0))
        self.socket.listen(16)
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.count = 0
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while self.running:
            try:
                connection, _ = self.socket.accept()
            except (socket.timeout, OSError):
                continue
            self.count += 1
            connection.close()

    def stop(self):
        self.running = False
        self.thread.join()
        self.socket.close()


def verify(received, secret):
    "Return the payload of a request after checking its signature"
    return Verifier(secret).verify(received.body, received.headers)


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture(scope='session')
def hooks_config(database):
    "The compressed settings in the test process, which runs Tryton too"
    from trytond import config
    for name, value in SETTINGS.items():
        if not config.has_section('crm_webhook'):
            config.add_section('crm_webhook')
        config.set('crm_webhook', name, value)
    return SETTINGS


@pytest.fixture(scope='session')
def hooks_server(environment, database, workdir, hooks_config):
    "An API server that may send to loopback, with the compressed settings"
    server = harness.Server(
        environment, database, str(workdir / 'hooks-server.log'),
        {**webhook_environment(), 'TRYTOND_CRM_API__RATE_LIMIT': '100000'})
    server.start()
    yield server
    server.stop()


@contextlib.contextmanager
def webhook_worker(environment, database, log_path, **settings):
    "Run crm-webhook-worker on database until the block ends"
    with open(log_path, 'ab') as log:
        process = subprocess.Popen(
            [os.path.join(harness.BIN, 'crm-webhook-worker'),
                '-d', database],
            env={**environment, **webhook_environment(**settings)},
            stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_for_line(log_path, process, 'started on database')
            yield process
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_line(log_path, process, text, timeout=60):
    "Wait until a process has written text to its log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path, 'rb') as log:
            if text.encode() in log.read():
                return
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited; see {log_path}")
        time.sleep(0.1)
    raise RuntimeError(f"{process.args[0]} did not start; see {log_path}")


@pytest.fixture(scope='session')
def hooks_worker(environment, database, workdir, hooks_config):
    "crm-webhook-worker sending the retries of the shared database"
    with webhook_worker(
            environment, database, workdir / 'hooks-worker.log') as process:
        yield process


@pytest.fixture
def hooks_client(hooks_server, admin_key):
    return Client(hooks_server.api, admin_key)


@pytest.fixture
def subscribe(hooks_client, hooks_worker):
    "Factory of webhooks to receivers, deleted after the test"
    created = []

    def make(receiver, event_types=None, url=None, **values):
        response = hooks_client.post('/webhooks', json={
                'name': 'test hook',
                'url': url or receiver.url,
                'event_types': event_types or SUBSCRIBABLE,
                **values})
        assert response.status_code == 201, response.text
        webhook = response.json()
        created.append(webhook['id'])
        return webhook
    yield make
    for webhook_id in created:
        hooks_client.delete(f'/webhooks/{webhook_id}')
