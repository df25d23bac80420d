"""The API against its own OpenAPI document, with schemathesis.

The st command runs as a subprocess, against the document that a trytond
server serves at that moment, so operations that other modules register
are tested without a change here.  It runs all of its phases: examples,
coverage (boundary values, negative values, unexpected methods), fuzzing
(positive and negative data) and stateful sequences over the links that
it infers between operations, with every check.  tests/api_schema
contains its configuration and one extra check.

Fuzzed requests create webhooks with arbitrary URLs, so the server runs
with tests/api_schema/loopback on PYTHONPATH: it resolves no host name and
connects to loopback addresses only.

CRM_API_SCHEMA_EXAMPLES sets the number of examples per operation in the
fuzzing phase, and of scenarios in the stateful phase (200 by default).
The test checks that every operation got at least that many requests
over all phases.  CRM_API_SCHEMA_SEED repeats the data of an earlier run,
whose seed the failure message shows.
"""
import collections
import json
import os
import socket
import subprocess

import pytest
import requests

from . import harness

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'api_schema')
CONFIG = os.path.join(HERE, 'schemathesis.toml')
HOOKS = os.path.join(HERE, 'hooks.py')
LOOPBACK_ONLY = os.path.join(HERE, 'loopback')
EXAMPLES = int(os.environ.get('CRM_API_SCHEMA_EXAMPLES', '200'))
SEED = os.environ.get('CRM_API_SCHEMA_SEED')
# Far above the measured duration, so that only a hang trips it.
TIMEOUT = 45 * 60
# The end of st's output that names the failures and sums up the run
REPORT_LENGTH = 30_000


@pytest.fixture(scope='module')
def fuzzed_server(environment, database, workdir):
    python_path = [LOOPBACK_ONLY]
    if environment.get('PYTHONPATH'):
        python_path.append(environment['PYTHONPATH'])
    server = harness.Server(
        environment, database, str(workdir / 'server-schemathesis.log'), {
            'TRYTOND_CRM_API__RATE_LIMIT': '1000000',
            'PYTHONPATH': os.pathsep.join(python_path),
            })
    server.start()
    yield server
    server.stop()


def served_operations(server):
    "Return the METHOD /path of each operation in the served document"
    response = requests.get(server.api + '/openapi.json', timeout=30)
    response.raise_for_status()
    return {
        f'{method.upper()} {path}'
        for path, item in response.json()['paths'].items()
        for method in item}


def run_schemathesis(server, key, report_dir):
    command = [
        os.path.join(harness.BIN, 'st'), '--config-file', CONFIG,
        '--no-color', 'run', server.api + '/openapi.json',
        '--checks', 'all',
        '--max-examples', str(EXAMPLES),
        # NOTE: more workers run Hypothesis in threads, and CPython 3.11.7
        # then fails now and then in ast.parse ("AST constructor recursion
        # depth mismatch") while schemathesis describes a strategy.
        '--workers', '1',
        '--request-timeout', '60',
        '--report', 'ndjson,junit', '--report-dir', str(report_dir),
        ]
    if SEED:
        command += ['--seed', SEED]
    environment = {
        **os.environ,
        'CRM_API_KEY': key,
        'SCHEMATHESIS_HOOKS': HOOKS,
        }
    # The working directory is the report's, so nothing lands in the tree.
    return subprocess.run(
        command, cwd=report_dir, env=environment, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=TIMEOUT)


def cases_per_operation(report_dir):
    "Return the number of requests sent to each operation, from the report"
    report, = report_dir.glob('ndjson-*.ndjson')
    counts = collections.Counter()
    with report.open(encoding='utf-8') as lines:
        for line in lines:
            event = json.loads(line)
            finished = event.get('ScenarioFinished')
            if not finished:
                continue
            recorder = finished['recorder']
            for case_id, case in recorder.get('cases', {}).items():
                # Child cases are the extra requests of checks, such as
                # ignored_auth's without credentials.
                if case.get('parent_id') \
                        or case_id not in recorder.get('interactions', {}):
                    continue
                value = case['value']
                counts[f"{value['method']} {value['path']}"] += 1
    return counts


def test_api_conforms_to_served_openapi_document(
        fuzzed_server, tryton, tmp_path):
    operations = served_operations(fuzzed_server)
    key = tryton.issue_key('all', name='schemathesis')

    result = run_schemathesis(fuzzed_server, key, tmp_path)

    counts = cases_per_operation(tmp_path)
    print(f"schemathesis cases per operation ({EXAMPLES} examples):")
    for operation in sorted(operations):
        print(f"  {counts[operation]:6d}  {operation}")
    assert result.returncode == 0, (
        f"st exited with {result.returncode}; reports in {tmp_path}\n"
        + result.stdout[-REPORT_LENGTH:] + result.stderr[-REPORT_LENGTH:])
    assert sorted(operations - set(counts)) == []
    assert {o: counts[o] for o in operations if counts[o] < EXAMPLES} == {}


# Header lines that break a rule of HTTP or of the API, each sent alone in
# place of the usual header of that name.  A request that the HTTP server
# itself rejects before the application receives it, such as one with
# more than 100 header lines (http.server's limit), is outside this list.
MALFORMED_HEADERS = {
    'authorization-empty': [b'Authorization: '],
    'authorization-scheme-only': [b'Authorization: Bearer'],
    'authorization-other-scheme': [b'Authorization: Basic YTpi'],
    'authorization-latin-1': [b'Authorization: Bearer crm_\xe9\xe9'],
    'authorization-utf-8': [b'Authorization: Bearer crm_\xc3\xa9'],
    'authorization-control': [b'Authorization: Bearer \x01\x7f'],
    'authorization-nul': [b'Authorization: Bearer crm_\x00'],
    'authorization-long': [b'Authorization: Bearer ' + b'a' * 60_000],
    'authorization-twice': [
        b'Authorization: Bearer crm_a', b'Authorization: Bearer crm_b'],
    'content-type-garbage': [b'Content-Type: ;;;='],
    'content-type-bad-charset': [
        b'Content-Type: application/json; charset=x\x00y'],
    'content-type-unterminated': [
        b'Content-Type: application/json; a="unterminated'],
    'content-type-non-ascii': [b'Content-Type: application/\xffjson'],
    'content-length-text': [b'Content-Length: abc'],
    'content-length-negative': [b'Content-Length: -1'],
    'content-length-huge': [b'Content-Length: 9' * 30],
    'transfer-encoding-bad-chunk': [b'Transfer-Encoding: chunked'],
    'transfer-encoding-unknown': [b'Transfer-Encoding: gzip'],
    'content-encoding-unknown': [b'Content-Encoding: br'],
    'host-invalid': [b'Host: a b/c'],
    'accept-garbage': [b'Accept: ;q=x,,,'],
    'cookie-garbage': [b'Cookie: ;;==;\xff'],
    'range-garbage': [b'Range: bytes=zz'],
    'conditional-garbage': [
        b'If-Modified-Since: yesterday', b'If-None-Match: "'],
    'forwarded-garbage': [
        b'X-Forwarded-For: \xff, ::::', b'X-Forwarded-Proto: gopher',
        b'Forwarded: for=;;'],
    'line-without-colon': [b'NoColonHere'],
    'name-with-space': [b'Bad Name: x'],
    'folded-line': [b'X-Note: a', b' folded'],
    }
BODY = b'{"name": "Malformed headers"}'


def send_raw(server, key, method, path, lines):
    """Send a request with the header lines as they are and return its
    status and Content-Type"""
    names = {line.split(b':', 1)[0].strip().lower() for line in lines}
    head = [f'{method} {path} HTTP/1.1'.encode(), b'Connection: close']
    defaults = {
        b'host': b'Host: 127.0.0.1',
        b'authorization': b'Authorization: Bearer ' + key.encode(),
        b'content-type': b'Content-Type: application/json',
        b'content-length': b'Content-Length: %d' % len(BODY),
        }
    if b'transfer-encoding' in names:
        names.add(b'content-length')
    head += [line for name, line in defaults.items() if name not in names]

    body = BODY
    if b'transfer-encoding' in names:
        # A chunk size that is not hexadecimal
        body = b'zz\r\n' + BODY + b'\r\n0\r\n\r\n'
    request = b'\r\n'.join(head + lines) + b'\r\n\r\n' + body

    with socket.create_connection(('127.0.0.1', server.port), 30) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        response = b''
        while chunk := sock.recv(65536):
            response += chunk

    status_line, *header_lines = response.split(b'\r\n\r\n', 1)[0].split(
        b'\r\n')
    content_type = next(
        (line.split(b':', 1)[1].strip().decode('latin-1')
            for line in header_lines
            if line.lower().startswith(b'content-type:')), None)
    return int(status_line.split()[1]), content_type


@pytest.fixture(scope='module')
def header_key(tryton):
    return tryton.issue_key('all', name='malformed headers')


@pytest.mark.parametrize('case', MALFORMED_HEADERS)
def test_malformed_header_gives_no_server_error(
        fuzzed_server, header_key, case):
    failures = []
    for operation in sorted(served_operations(fuzzed_server)):
        method, path = operation.split(' ', 1)
        path = path.replace('{id}', '1')

        status, content_type = send_raw(
            fuzzed_server, header_key, method, path, MALFORMED_HEADERS[case])

        if status >= 500 or (
                status >= 400 and content_type != 'application/problem+json'):
            failures.append(f"{operation}: {status} {content_type}")
    assert failures == []
