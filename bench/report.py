"Figures of a run, their ratios against the targets, as JSON and Markdown"
import os
import platform
import subprocess

from . import OPERATIONS

LABELS = {
    'get': "GET one contact",
    'list_first': "list, first page of 100",
    'list_deep': "list, page of 100 after 90,000",
    'create': "create a contact",
    }


def ratio_checks(results):
    """Yield (description, measured ratio, target, comparison) for each
    target whose operations were measured"""
    def throughput(operation, app):
        result = results.get((operation, app))
        return result.throughput if result else None

    for operation in ['get', 'list_first', 'list_deep']:
        api, rest = throughput(operation, 'api'), throughput(operation, 'rest')
        if api and rest:
            yield (f"{LABELS[operation]}: API / rest throughput",
                api / rest, 1.2, '>=')
    for operation in OPERATIONS:
        api = throughput(operation, 'api')
        minimal = throughput(operation, 'minimal')
        if api and minimal:
            yield (f"{LABELS[operation]}: API / minimal throughput",
                api / minimal, 0.5, '>=')
    first = results.get(('list_first', 'api'))
    deep = results.get(('list_deep', 'api'))
    if first and deep:
        yield ("API deep page / first page, p50 time",
            deep.p50_ms / first.p50_ms, 1.2, '<=')
        yield ("API deep page / first page, p99 time",
            deep.p99_ms / first.p99_ms, 1.2, '<=')
    api, rest = throughput('create', 'api'), throughput('create', 'rest')
    if api and rest:
        yield ("create a contact: API / rest throughput (no target)",
            api / rest, None, None)
    first = results.get(('list_first', 'rest'))
    deep = results.get(('list_deep', 'rest'))
    if first and deep:
        yield ("rest deep page / first page, p50 time (no target)",
            deep.p50_ms / first.p50_ms, None, None)
    # Server CPU per request depends less on other work on the machine
    # than throughput does.
    for operation in measured_operations(results):
        api, rest = results.get((operation, 'api')), results.get(
            (operation, 'rest'))
        if api and rest and api.server_cpu_ms:
            yield (f"{LABELS[operation]}: rest / API server CPU per request "
                "(no target)", rest.server_cpu_ms / api.server_cpu_ms,
                None, None)


def measured_operations(results):
    "Return the operations of results, in the order of OPERATIONS"
    measured = {operation for operation, _ in results}
    return [o for o in OPERATIONS if o in measured]


def machine():
    def command(*args):
        try:
            return subprocess.run(
                args, capture_output=True, text=True, timeout=10
                ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ''
    model = next((
            line.split(':', 1)[1].strip()
            for line in command('lscpu').splitlines()
            if line.startswith('Model name')), platform.processor())
    return {
        'cpus': os.cpu_count(),
        'cpu_model': model,
        'memory': next((
                line.split()[1] for line in command('free', '-h').splitlines()
                if line.startswith('Mem:')), ''),
        'python': platform.python_version(),
        'trytond': trytond_version(),
        'postgresql': command('psql', '--version'),
        'wrk': command('wrk', '--version').splitlines()[0]
        if command('wrk', '--version') else '',
        }


def trytond_version():
    import trytond
    return trytond.__version__


def build(results, options, load_before):
    rows = []
    for (operation, app), result in results.items():
        rows.append({
                'operation': operation, 'app': app,
                'throughput': round(result.throughput, 1),
                'p50_ms': round(result.p50_ms, 2),
                'p99_ms': round(result.p99_ms, 2),
                'requests': result.requests,
                'seconds': round(result.seconds, 1),
                'errors': result.errors,
                'load_average': result.load_average,
                'server_cpu_ms': round(result.server_cpu_ms, 2),
                })
    checks = []
    for description, ratio, target, comparison in ratio_checks(results):
        met = None
        if target is not None:
            met = ratio >= target if comparison == '>=' else ratio <= target
        checks.append({
                'description': description, 'ratio': round(ratio, 3),
                'target': target,
                'comparison': comparison, 'met': met})
    return {
        'machine': machine(),
        'settings': {
            'contacts': options.contacts,
            'connections': options.connections,
            'duration': options.duration,
            'rounds': options.rounds,
            'warmup': options.warmup,
            'max_requests': options.max_requests,
            'load_average_before': load_before,
            },
        'rows': rows,
        'checks': checks,
        }


def markdown(table):
    lines = [
        "| operation | app | req/s | p50 ms | p99 ms | server CPU ms "
        "| requests | errors | load |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
    for row in table['rows']:
        lines.append(
            f"| {LABELS[row['operation']]} | {row['app']} "
            f"| {row['throughput']:.1f} | {row['p50_ms']:.1f} "
            f"| {row['p99_ms']:.1f} | {row['server_cpu_ms']:.1f} "
            f"| {row['requests']} | {row['errors']} "
            f"| {row['load_average']:.1f} |")
    lines += [
        "",
        "| ratio | measured | target | met |",
        "| --- | ---: | ---: | --- |",
        ]
    for check in table['checks']:
        target = (f"{check['comparison']} {check['target']}"
            if check['target'] is not None else "")
        met = {True: "yes", False: "no", None: ""}[check['met']]
        lines.append(
            f"| {check['description']} | {check['ratio']:.3f} | {target} "
            f"| {met} |")
    settings = table['settings']
    machine = table['machine']
    lines += [
        "",
        f"{settings['contacts']} contacts, {settings['connections']} "
        f"connections, {settings['duration']} s per measurement in "
        f"{settings['rounds']} turns after "
        f"{settings['warmup']} s of warm-up; load average "
        f"{settings['load_average_before']:.1f} before the run; "
        f"{machine['cpus']} CPUs "
        f"({machine['cpu_model']}), {machine['memory']} RAM, Python "
        f"{machine['python']}, trytond {machine['trytond']}, "
        f"{machine['postgresql']}, {machine['wrk']}.",
        ]
    return '\n'.join(lines)
