"""Benchmark of the public API against Tryton's /rest and a minimal app.

``./run bench`` (``python -m bench``) builds, once, a PostgreSQL database
with 100,000 contacts, serves it three ways on 127.0.0.1 and loads each
server with ``wrk`` from a separate process, the three apps taking turns
for each operation:

- ``api``: our public API under ``/api/v1/crm`` (crm_public_api);
- ``rest``: Tryton 8.0's own ``/<database>/rest`` on the same records and
  user, both served by one ``trytond`` process (Werkzeug's threaded
  server);
- ``minimal``: a WSGI app in ``bench/minimal.py`` that runs one indexed SQL
  statement per request with psycopg2, on the same Werkzeug server.

The figures and what limits them are in docs/performance.md.
"""

OPERATIONS = ['get', 'list_first', 'list_deep', 'create']
APPS = ['api', 'rest', 'minimal']
PAGE = 100
# The deep page starts after this many loaded contacts: near the end of a
# walk of 100,000, where an offset costs the most.
DEEP_POSITION = 90_000
