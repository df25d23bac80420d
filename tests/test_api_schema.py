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

CRM_API_SCHEMA_EXAMPLES sets the maximum of examples per operation in the
fuzzing phase, and of scenarios in the stateful phase (200 by default).
Hypothesis stops earlier for an operation once it runs out of distinct
inputs.  CRM_API_SCHEMA_SEED repeats the data of an earlier run, whose
seed the failure message shows.
"""
import collections
import json
import os
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
