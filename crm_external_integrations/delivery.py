"""Deliveries of events to webhooks, and the log of their attempts.

A delivery moves through these states, and ``next_step`` below is the one
place that decides the move after an attempt:

    pending, retrying --2xx-------------------------------> succeeded
    pending, retrying --410, or failure and no retry left--> failed
    pending, retrying --other failure, retries left------> retrying
    pending, retrying --webhook inactive-----------------> failed
    succeeded, failed --redeliver or replay--------------> pending

The waits between retries are the ``retry_schedule`` setting, stretched
by up to ``retry_jitter`` at random and never shorter than a receiver's
Retry-After.

Who sends.  Creating deliveries pushes an ``ir.queue`` task that calls
``send``.  On PostgreSQL trytond-worker runs it, and the task then goes
on with other due deliveries for a while (``_drain``).  Without a worker,
Tryton runs it right after the commit, in the process of the change.
A failed attempt pushes the retry's task with ``scheduled_at`` when a
worker runs the queue.  Queue tasks can be lost (a worker killed after
taking one) and Tryton without a worker ignores ``scheduled_at``, so
``enqueue_due``, called by crm-webhook-worker every few seconds and by a
cron every minute, queues again every delivery that is due, not claimed,
and not queued in the last ``requeue_after`` seconds.

Claims.  Before its attempts a sender claims up to ``CLAIM_BATCH``
deliveries at once: a conditional UPDATE, after SELECT ... FOR UPDATE SKIP
LOCKED where the database has it, sets one lease token and expiry on the
deliveries that are due and not leased, and commits.  Two senders
therefore never make the same attempt, and a sender that dies mid-attempt
only delays its deliveries until the lease expires.  They are then sent
again with the same webhook-id.  A sender starts an attempt only while
the lease outlasts the request timeout by ``FINISH_MARGIN``; the
deliveries it has no time left for go back unleased.
NOTE: a receiver that trickles its response headers can stretch an
attempt past the lease, and another sender may then send the delivery a
second time.
The HTTP requests run outside any open write, and their results are
recorded in one new transaction, which also clears the lease.
"""
import datetime as dt
import json
import logging
import random
import secrets
import time

from collections import namedtuple

from sql import Column, For, Null
from sql.aggregate import Max
from sql.operators import Equal

from trytond import backend
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.transaction import Transaction, without_check_access

from . import guard, sender, settings, signing
from .event import EVENT_TYPES, now

logger = logging.getLogger(__name__)

STATES = [
    ('pending', "Pending"),
    ('retrying', "Retrying"),
    ('succeeded', "Succeeded"),
    ('failed', "Failed"),
    ]
OPEN_STATES = ['pending', 'retrying']
QUEUE_NAME = 'crm_webhook'
# Deliveries per task queued by enqueue_due, so that several workers share
# a backlog.
REQUEUE_BATCH = 10
DRAIN_SECONDS = 10
# Deliveries leased in one transaction and recorded in the next one: the
# two transactions cost more than a request to a fast receiver.
CLAIM_BATCH = 50
# Seconds of lease that an attempt leaves after its timeout, to record the
# results.  The lease outlasts the timeout by more than that.
FINISH_MARGIN = 1

# A delivery under lease: its webhook's URL and signing secrets are its
# target, None when the webhook is inactive.
Leased = namedtuple('Leased', ['id', 'webhook', 'event_id', 'body', 'target'])


class Claim:
    "Deliveries leased together under one token"

    def __init__(self, token, expires, deliveries):
        self.token = token
        # The time.monotonic() at which the lease ends, on the safe side
        self.expires = expires
        self.deliveries = deliveries


def next_step(attempts, error_kind, retry_after=None, *, schedule,
        jitter=0, max_retry_after=None, rand=random.random):
    """Return the state of a delivery after its attempt number attempts
    and the seconds until the next attempt, None when there is none

    error_kind is the sender's outcome, None for a success."""
    if error_kind is sender.SUCCESS:
        return 'succeeded', None
    if error_kind == sender.GONE:
        return 'failed', None
    retries_done = attempts - 1
    if retries_done >= len(schedule):
        return 'failed', None
    delay = schedule[retries_done] * (1 + jitter * rand())
    if retry_after is not None:
        if max_retry_after is not None:
            retry_after = min(retry_after, max_retry_after)
        delay = max(delay, retry_after)
    return 'retrying', delay


def _post(url, secrets_, event_id, body):
    "Sign body for this moment and send it"
    headers = signing.headers(secrets_, event_id, int(time.time()), body)
    return sender.post(
        url, body, headers,
        allowed=guard.parse_networks(settings.allow_networks()),
        connect_timeout=settings.connect_timeout(),
        timeout=settings.timeout())


class Delivery(ModelSQL, ModelView):
    "One event sent to one webhook, with its retries"
    __name__ = 'crm.webhook.delivery'

    webhook = fields.Many2One(
        'crm.webhook', "Webhook", required=True, ondelete='CASCADE',
        readonly=True)
    event_id = fields.Char(
        "Event ID", required=True, readonly=True,
        help="Sent as webhook-id, the same on every attempt.")
    event_type = fields.Selection(
        [(t, t) for t in EVENT_TYPES], "Event Type", required=True,
        readonly=True, sort=False, translate=False)
    payload = fields.Binary("Payload", required=True, readonly=True)
    state = fields.Selection(STATES, "State", required=True, readonly=True)
    attempt_count = fields.Integer(
        "Attempts", required=True, readonly=True,
        help="Attempts since the delivery was created or last redelivered.")
    next_attempt_at = fields.Timestamp("Next Attempt At", readonly=True)
    queued_at = fields.Timestamp("Queued At", readonly=True)
    lease_expires_at = fields.Timestamp("Lease Expires At", readonly=True)
    lease_token = fields.Char("Lease Token", readonly=True)
    attempts = fields.One2Many(
        'crm.webhook.attempt', 'delivery', "Attempts", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(
                    t,
                    (t.next_attempt_at, Index.Range()),
                    where=t.state.in_(OPEN_STATES)),
                Index(
                    t,
                    (t.webhook, Index.Equality()),
                    (t.id, Index.Range(order='DESC'))),
                Index(t, (t.event_id, Index.Equality())),
                })
        cls._order = [('id', 'DESC')]

    @staticmethod
    def default_state():
        return 'pending'

    @staticmethod
    def default_attempt_count():
        return 0

    @staticmethod
    def default_next_attempt_at():
        return now()

    @staticmethod
    def default_queued_at():
        return now()

    def get_rec_name(self, name):
        return f'{self.event_type} {self.event_id}'

    @classmethod
    def create_pending(cls, vlist):
        """Create the deliveries of new events and return them

        This runs in the transaction of every change that a webhook
        subscribes to, where the ORM's create, with its defaults,
        validation and access checks, would cost more than the change
        itself.  The values here need none of them, so on databases that
        return inserted ids they go in with a single INSERT."""
        transaction = Transaction()
        if not transaction.database.has_returning():
            return cls.create(vlist)
        moment = now()
        common = {
            'create_uid': transaction.user,
            'create_date': moment,
            'state': 'pending',
            'attempt_count': 0,
            'next_attempt_at': moment,
            'queued_at': moment,
            }
        rows = [{**common, **v} for v in vlist]
        names = list(rows[0])
        table = cls.__table__()
        cursor = transaction.connection.cursor()
        cursor.execute(*table.insert(
                [Column(table, n) for n in names],
                [[getattr(cls, n).sql_format(r[n]) for n in names]
                    for r in rows],
                returning=[table.id]))
        return cls.browse([i for i, in cursor])

    @classmethod
    def enqueue(cls, deliveries, delay=None, batch=None):
        """Push queue tasks that send the deliveries after delay seconds,
        with batch deliveries per task (all of them by default)"""
        Queue = Pool().get('ir.queue')
        ids = [d.id for d in deliveries]
        if not ids:
            return
        batch = batch or len(ids)
        context = {'queue_name': QUEUE_NAME}
        if delay:
            context['queue_scheduled_at'] = dt.timedelta(seconds=delay)
        with Transaction().set_context(context):
            for start in range(0, len(ids), batch):
                Queue.caller(cls).send(ids[start:start + batch])

    @classmethod
    def enqueue_due(cls, limit=500):
        """Queue again the deliveries that are due and whose task is late
        or lost; return how many"""
        moment = now()
        late = moment - dt.timedelta(seconds=settings.requeue_after())
        with without_check_access():
            deliveries = cls.search([
                    ('state', 'in', OPEN_STATES),
                    ('next_attempt_at', '<=', moment),
                    ['OR',
                        ('lease_expires_at', '=', None),
                        ('lease_expires_at', '<', moment),
                        ],
                    ['OR',
                        ('queued_at', '=', None),
                        ('queued_at', '<', late),
                        ],
                    ], order=[('next_attempt_at', 'ASC'), ('id', 'ASC')],
                limit=limit)
            if deliveries:
                cls.write(deliveries, {'queued_at': moment})
                cls.enqueue(deliveries, batch=REQUEUE_BATCH)
        if deliveries:
            logger.info("%d due deliveries queued", len(deliveries))
        return len(deliveries)

    @classmethod
    def send(cls, deliveries):
        """Attempt each delivery that is due and not claimed by another
        sender, then, under trytond-worker, other due deliveries"""
        if not isinstance(deliveries, (list, tuple)):
            deliveries = [deliveries]
        ids = [int(d) for d in deliveries]
        for start in range(0, len(ids), CLAIM_BATCH):
            claim = cls._claim(ids[start:start + CLAIM_BATCH])
            if claim:
                cls._attempt(claim)
        if settings.has_queue_worker():
            cls._drain()

    @classmethod
    def _drain(cls):
        """Send due deliveries until none is left or DRAIN_SECONDS passed

        trytond-worker sleeps up to 100 ms before it takes a task, which
        would cap a worker at a few dozen deliveries a second.  The tasks
        of the deliveries sent here find them done and return at once."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            claim = cls._claim()
            if not claim:
                break
            cls._attempt(claim)

    @classmethod
    def _claim(cls, ids=None):
        """Lease the due and unleased deliveries among ids, or those due
        the longest, at most CLAIM_BATCH; return the Claim or None"""
        pool = Pool()
        Webhook = pool.get('crm.webhook')
        table = cls.__table__()
        started = time.monotonic()
        lease = settings.lease()
        try:
            with Transaction().new_transaction() as transaction, \
                    without_check_access():
                database = transaction.database
                cursor = transaction.connection.cursor()
                moment = now()
                due = (table.state.in_(OPEN_STATES)
                    & (table.next_attempt_at <= moment)
                    & ((table.lease_expires_at == Null)
                        | (table.lease_expires_at < moment)))
                if ids is not None:
                    due &= table.id.in_(ids)
                query = table.select(
                    table.id, where=due,
                    order_by=[table.next_attempt_at.asc, table.id.asc],
                    limit=CLAIM_BATCH)
                if database.has_select_for():
                    query.for_ = database.get_select_for_skip_locked()(
                        'UPDATE')
                cursor.execute(*query)
                candidates = [i for i, in cursor]
                if not candidates:
                    return None

                # The condition is checked again, for databases without
                # row locks: only the rows still free get the token.
                token = secrets.token_hex(16)
                cursor.execute(*table.update(
                        [table.lease_token, table.lease_expires_at],
                        [token, moment + dt.timedelta(seconds=lease)],
                        where=due & table.id.in_(candidates)))
                cursor.execute(*table.select(
                        table.id, table.webhook, table.event_id,
                        table.payload,
                        where=table.id.in_(candidates)
                        & Equal(table.lease_token, token),
                        order_by=[table.next_attempt_at.asc, table.id.asc]))
                rows = cursor.fetchall()
                targets = {}
                for webhook in Webhook.browse({r[1] for r in rows}):
                    targets[webhook.id] = (
                        (webhook.url, webhook.signing_secrets())
                        if webhook.active else None)
                transaction.commit()
        except backend.DatabaseOperationalError:
            # Another sender claimed them in the same instant.
            return None
        return Claim(token, started + lease, [
                Leased(i, w, e, bytes(p), targets[w])
                for i, w, e, p in rows])

    @classmethod
    def _attempt(cls, claim):
        """Make the attempts of a claim and record them

        The attempts stop once the lease can no longer cover a whole one,
        and the deliveries left are released for the next claim.  Should an
        attempt raise, the ones made before it are still recorded, so they
        are not sent again."""
        needed = settings.timeout() + FINISH_MARGIN
        results = {}
        try:
            for leased in claim.deliveries:
                if leased.target is None:
                    logger.info(
                        "delivery %s: failed, its webhook %s is inactive",
                        leased.id, leased.webhook)
                    results[leased.id] = None
                    continue
                if time.monotonic() + needed > claim.expires:
                    break
                attempted_at = now()
                results[leased.id] = (
                    attempted_at, _post(*leased.target, leased.event_id,
                        leased.body))
        finally:
            cls._finish(claim, results)

    @classmethod
    def _finish(cls, claim, results):
        """Log the attempts of a claim and move its deliveries on

        results maps a delivery id to its attempt time and Result, or to
        None when its webhook was inactive.  The other deliveries of the
        claim are released as they were."""
        table = cls.__table__()
        ids = [d.id for d in claim.deliveries]
        with Transaction().new_transaction() as transaction, \
                without_check_access():
            database = transaction.database
            cursor = transaction.connection.cursor()
            query = table.select(
                table.id, table.lease_token, where=table.id.in_(ids))
            if database.has_select_for():
                query.for_ = For('UPDATE')
            cursor.execute(*query)
            tokens = dict(cursor)

            # A delivery whose webhook was deleted during the attempt is
            # gone with its log.  A lease expires when a sender takes
            # longer than its lease, and the delivery then belongs to the
            # sender that claimed it since: its attempt is logged, its
            # state left alone.
            deleted = [i for i in results if i not in tokens]
            lost = [i for i in results
                if i in tokens and tokens[i] != claim.token]
            for delivery_id in deleted:
                logger.info(
                    "delivery %s deleted during its attempt", delivery_id)
            for delivery_id in lost:
                logger.warning(
                    "delivery %s: lease lost during the attempt; the "
                    "attempt is logged, the state left to the new sender",
                    delivery_id)

            attempted = {
                i: r for i, r in results.items() if r and i in tokens}
            cls._log_attempts(attempted)
            owned = cls.browse([
                    i for i in ids if tokens.get(i) == claim.token
                    and i in results])
            cls._settle([
                    (d, attempted[d.id][1] if d.id in attempted else None)
                    for d in owned])

            released = [i for i in ids
                if tokens.get(i) == claim.token and i not in results]
            if released:
                cursor.execute(*table.update(
                        [table.lease_token, table.lease_expires_at],
                        [Null, Null], where=table.id.in_(released)))
                logger.info(
                    "deliveries %s released unsent for the next claim",
                    ', '.join(map(str, released)))
            transaction.commit()

    @classmethod
    def _log_attempts(cls, attempted):
        """Create the attempt log entries of the deliveries

        attempted maps a delivery id to its attempt time and Result.  An
        attempt is numbered after the last one logged, so the numbers go
        on across redeliveries."""
        pool = Pool()
        Attempt = pool.get('crm.webhook.attempt')
        if not attempted:
            return []
        attempt = Attempt.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*attempt.select(
                attempt.delivery, Max(attempt.number),
                where=attempt.delivery.in_(list(attempted)),
                group_by=[attempt.delivery]))
        last = dict(cursor)
        return Attempt.create([
                Attempt.values_of(
                    delivery_id, (last.get(delivery_id) or 0) + 1, result,
                    attempted_at)
                for delivery_id, (attempted_at, result)
                in attempted.items()])

    @classmethod
    def _settle(cls, outcomes):
        """Move each delivery to the state that its attempt leads to

        outcomes lists (delivery, Result), the Result None when the
        webhook was inactive and nothing was sent."""
        groups = {}
        retries = []
        gone_webhooks = {}
        for delivery, result in outcomes:
            values, delay = delivery._next_values(result)
            key = tuple(sorted(values.items()))
            groups.setdefault(key, (values, []))[1].append(delivery)
            if delay is not None:
                retries.append((delivery, delay))
            if result and result.error_kind == sender.GONE:
                gone_webhooks.setdefault(delivery.webhook, delivery)
            delivery._log_outcome(result, values['state'], delay)

        args = []
        for values, deliveries in groups.values():
            args.extend((deliveries, values))
        if args:
            cls.write(*args)
        if settings.has_queue_worker():
            for delivery, delay in retries:
                cls.enqueue([delivery], delay=delay)
        for webhook, delivery in gone_webhooks.items():
            webhook.disable(
                f"the receiver answered 410 Gone to delivery {delivery.id}")

    def _next_values(self, result):
        """Return the values of the delivery after an attempt with result
        (None when nothing was sent) and the seconds until its retry"""
        attempts = self.attempt_count + (1 if result else 0)
        if result is None:
            state, delay = 'failed', None
        else:
            schedule = [] if self.event_type == 'ping' \
                else settings.retry_schedule()
            state, delay = next_step(
                attempts, result.error_kind, result.retry_after,
                schedule=schedule, jitter=settings.retry_jitter(),
                max_retry_after=settings.max_retry_after())
        values = {
            'state': state,
            'attempt_count': attempts,
            'lease_token': None,
            'lease_expires_at': None,
            'next_attempt_at': None,
            }
        if delay is not None:
            values['next_attempt_at'] = now() + dt.timedelta(seconds=delay)
            # Under trytond-worker the retry gets a queue task scheduled
            # for that time.  Without a worker, queued tasks run at once,
            # so the scan of crm-webhook-worker sends it when due.
            values['queued_at'] = (values['next_attempt_at']
                if settings.has_queue_worker() else None)
        return values, delay

    def _log_outcome(self, result, state, delay):
        if result is None:
            return
        outcome = result.status if result.status is not None \
            else result.error_kind
        if delay is not None:
            logger.info(
                "delivery %s to webhook %s: %s after %d ms, retry in %.0f s",
                self.id, self.webhook.id, outcome, result.duration_ms, delay)
        else:
            logger.info(
                "delivery %s to webhook %s: %s after %d ms, %s",
                self.id, self.webhook.id, outcome, result.duration_ms, state)

    def attempt_now(self):
        """Send the delivery at once in this transaction and return the
        attempt

        For test calls: no other sender can claim a delivery that is not
        committed yet, so it needs no lease."""
        attempted_at = now()
        result = _post(
            self.webhook.url, self.webhook.signing_secrets(), self.event_id,
            bytes(self.payload))
        attempt, = self._log_attempts({self.id: (attempted_at, result)})
        self._settle([(self, result)])
        return attempt

    @classmethod
    def redeliver(cls, deliveries):
        """Send the deliveries again with the same event id and payload,
        with a fresh allowance of retries"""
        moment = now()
        to_reopen = [d for d in deliveries if d.state not in OPEN_STATES]
        to_hurry = [d for d in deliveries if d.state in OPEN_STATES]
        if to_reopen:
            cls.write(to_reopen, {
                    'state': 'pending',
                    'attempt_count': 0,
                    'next_attempt_at': moment,
                    'queued_at': moment,
                    'lease_token': None,
                    'lease_expires_at': None,
                    })
        if to_hurry:
            cls.write(to_hurry, {
                    'next_attempt_at': moment,
                    'queued_at': moment,
                    })
        cls.enqueue(deliveries)

    @property
    def payload_json(self):
        return json.loads(bytes(self.payload))


class Attempt(ModelSQL, ModelView):
    "One HTTP request of a delivery and what came back"
    __name__ = 'crm.webhook.attempt'

    delivery = fields.Many2One(
        'crm.webhook.delivery', "Delivery", required=True,
        ondelete='CASCADE', readonly=True)
    number = fields.Integer("Number", required=True, readonly=True)
    attempted_at = fields.Timestamp(
        "Attempted At", required=True, readonly=True)
    duration_ms = fields.Integer(
        "Duration", readonly=True, help="In milliseconds.")
    request_headers = fields.Text(
        "Request Headers", readonly=True,
        help="JSON; signatures are not stored.")
    response_status = fields.Integer("Response Status", readonly=True)
    response_body = fields.Text(
        "Response Body", readonly=True,
        help="The first kilobyte of the response.")
    error_kind = fields.Selection(
        [(None, "")] + sender.ERROR_KINDS, "Error Kind", readonly=True)
    error = fields.Char("Error", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.delivery, Index.Equality())),
                Index(t, (t.attempted_at, Index.Range())),
                })
        cls._order = [('attempted_at', 'ASC'), ('id', 'ASC')]

    @staticmethod
    def values_of(delivery_id, number, result, attempted_at):
        return {
            'delivery': delivery_id,
            'number': number,
            'attempted_at': attempted_at,
            'duration_ms': result.duration_ms,
            'request_headers': json.dumps(result.request_headers),
            'response_status': result.status,
            'response_body': result.body.decode('utf-8', 'replace'),
            'error_kind': result.error_kind,
            'error': result.error,
            }

    @classmethod
    def clean(cls, days=None):
        "Delete the attempts older than the retention period"
        if days is None:
            days = settings.attempt_retention_days()
        before = now() - dt.timedelta(days=days)
        with without_check_access():
            attempts = cls.search([('attempted_at', '<', before)])
            cls.delete(attempts)
        logger.info(
            "%d webhook attempts older than %d days deleted",
            len(attempts), days)
