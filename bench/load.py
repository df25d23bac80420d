"""Load generation with wrk, in its own process, on loopback only.

Each measurement is one ``wrk`` run with a fixed number of connections
(closed loop: a connection sends its next request when the previous
response is complete).  It stops at whichever comes first, its duration
or its request budget, which a small Lua script counts.  The same script
substitutes a random id into ``{id}`` paths and prints the summary as
JSON, with latency percentiles from wrk's histogram.
"""
import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse

MARK = 'BENCH-RESULT '

SCRIPT = """\
local config = %(config)s
wrk.method = config.method
wrk.body = config.body
for name, value in pairs(config.headers) do
  wrk.headers[name] = value
end

local answered = 0

function request()
  local path = config.path
  if config.first_id then
    path = path:gsub("{id}", tostring(
      math.random(config.first_id, config.last_id)))
  end
  return wrk.format(nil, path)
end

function response(status, headers, body)
  answered = answered + 1
  if answered >= config.max_requests then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  -- latency(i) is the i-th distinct latency (us) and its count, so the
  -- histograms of several runs can be merged exactly.
  local histogram = {}
  for i = 1, #latency do
    local value, count = latency(i)
    histogram[#histogram + 1] = string.format("[%%d, %%d]", value, count)
  end
  io.write(string.format(
    '%(mark)s{"requests": %%d, "duration_us": %%d, "connect_errors": %%d, '
    .. '"read_errors": %%d, "write_errors": %%d, "status_errors": %%d, '
    .. '"timeouts": %%d, "histogram": [%%s]}\\n',
    summary.requests, summary.duration, errors.connect, errors.read,
    errors.write, errors.status, errors.timeout,
    table.concat(histogram, ", ")))
end
"""


class LoadError(RuntimeError):
    pass


@dataclasses.dataclass
class Request:
    "What each request of a measurement sends"
    method: str
    url: str
    headers: dict
    body: str | None = None
    id_range: tuple | None = None


@dataclasses.dataclass
class Measurement:
    "One or more wrk runs of a request, summed"
    requests: int
    seconds: float
    errors: int
    # {latency in microseconds: number of responses}
    histogram: dict
    # 1-minute load averages of the machine, one at the end of each run
    load_averages: list = dataclasses.field(default_factory=list)
    # CPU time of the server process (all threads) during the runs
    server_cpu_seconds: float = 0.0

    @property
    def throughput(self):
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_cpu_ms(self):
        "CPU time of the server process per request, in ms"
        return self.server_cpu_seconds * 1000 / max(1, self.requests)

    @property
    def load_average(self):
        return sum(self.load_averages) / max(1, len(self.load_averages))

    @property
    def p50_ms(self):
        return self.percentile(50) / 1000

    @property
    def p99_ms(self):
        return self.percentile(99) / 1000

    def percentile(self, percent):
        "Return the latency in us that percent of the responses met"
        total = sum(self.histogram.values())
        seen = 0
        for value in sorted(self.histogram):
            seen += self.histogram[value]
            if seen * 100 >= total * percent:
                return value
        return 0

    def __add__(self, other):
        histogram = dict(self.histogram)
        for value, count in other.histogram.items():
            histogram[value] = histogram.get(value, 0) + count
        return Measurement(
            requests=self.requests + other.requests,
            seconds=self.seconds + other.seconds,
            errors=self.errors + other.errors,
            histogram=histogram,
            load_averages=self.load_averages + other.load_averages,
            server_cpu_seconds=(
                self.server_cpu_seconds + other.server_cpu_seconds))


def cpu_seconds(pid):
    "Return the user and system CPU time of a process, in seconds"
    with open(f'/proc/{pid}/stat') as stat:
        # The command name in brackets may contain spaces; fields follow.
        fields = stat.read().rsplit(')', 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf('SC_CLK_TCK')


def lua_literal(value):
    "Return the Lua source of a JSON-like value"
    if value is None:
        return 'nil'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        # A Lua long bracket string takes the text as it is.
        level = '=' * 4
        return f'[{level}[{value}]{level}]'
    if isinstance(value, dict):
        items = ', '.join(
            f'[ {lua_literal(k)} ] = {lua_literal(v)}'
            for k, v in value.items())
        return '{' + items + '}'
    raise TypeError(f"no Lua literal for {type(value).__name__}")


def check_wrk():
    "Return the path of wrk or raise LoadError"
    path = shutil.which('wrk')
    if path is None:
        raise LoadError(
            "wrk is not installed; install it with "
            "\"apt-get install wrk\" (Debian) and run the benchmark again.")
    return path


def run(request, connections, duration, max_requests, timeout=10):
    "Load the URL of request with wrk and return the Measurement"
    parts = urllib.parse.urlsplit(request.url)
    if parts.hostname not in {'127.0.0.1', '::1', 'localhost'}:
        raise LoadError(f"refusing to load {parts.hostname}: loopback only")
    path = parts.path + (f'?{parts.query}' if parts.query else '')
    config = {
        'method': request.method, 'path': path, 'body': request.body,
        'headers': request.headers, 'max_requests': max_requests,
        'first_id': request.id_range[0] if request.id_range else None,
        'last_id': request.id_range[1] if request.id_range else None,
        }
    with tempfile.NamedTemporaryFile(
            'w', suffix='.lua', prefix='bench-') as script:
        script.write(SCRIPT % {'config': lua_literal(config), 'mark': MARK})
        script.flush()
        base = f'{parts.scheme}://{parts.netloc}'
        command = [
            check_wrk(), '--threads', '1', '--connections', str(connections),
            '--duration', f'{duration}s', '--timeout', f'{timeout}s',
            '--script', script.name, base]
        completed = subprocess.run(
            command, capture_output=True, text=True,
            timeout=duration + timeout + 30,
            env={**os.environ, 'LC_ALL': 'C'})
    for line in completed.stdout.splitlines():
        if line.startswith(MARK):
            return measurement(json.loads(line[len(MARK):]))
    raise LoadError(
        f"wrk exited with {completed.returncode} and no summary: "
        f"{completed.stderr.strip() or completed.stdout.strip()}")


def measurement(summary):
    errors = sum(summary[k] for k in (
            'connect_errors', 'read_errors', 'write_errors',
            'status_errors', 'timeouts'))
    histogram = {}
    for value, count in summary['histogram']:
        histogram[value] = histogram.get(value, 0) + count
    return Measurement(
        requests=summary['requests'],
        seconds=summary['duration_us'] / 1e6,
        errors=errors,
        histogram=histogram)
