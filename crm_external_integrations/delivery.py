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

Claims.  Before an attempt a sender claims the delivery: a conditional
UPDATE, after SELECT ... FOR UPDATE SKIP LOCKED where the database has it,
sets a lease token and expiry on a delivery that is due and not leased,
and commits.  Two senders therefore never make the same attempt, and a
sender that dies mid-attempt only delays the delivery until its lease
expires.  The delivery is then sent again with the same webhook-id.
NOTE: the lease outlasts the request timeout by 5 s at least, but a
receiver that trickles its response headers can stretch an attempt past
it, and another sender may then send the delivery a second time.
The HTTP request runs outside any open write, and its result is recorded
in a new transaction, which also clears the lease.
"""
import datetime as dt
import json
import logging
import random
import secrets
import time

from sql import Null
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


def _post(url, body, headers):
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
        for delivery_id in [int(d) for d in deliveries]:
            claim = cls._claim(delivery_id)
            if claim:
                cls._attempt(*claim)
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
            claim = cls._claim_next()
            if not claim:
                break
            cls._attempt(*claim)

    @classmethod
    def _attempt(cls, delivery_id, token, request):
        """Make the attempt of a claimed delivery and record it

        request is None when the webhook is inactive."""
        result, attempted_at = None, None
        if request is None:
            logger.info(
                "delivery %s: failed, its webhook is inactive", delivery_id)
        else:
            attempted_at = now()
            result = _post(*request)
        cls._finish(delivery_id, token, result, attempted_at)

    def _request(self):
        "Return the URL, body and signed headers of an attempt now"
        body = bytes(self.payload)
        headers = signing.headers(
            self.webhook.signing_secrets(), self.event_id,
            int(time.time()), body)
        return self.webhook.url, body, headers

    @classmethod
    def _claim(cls, delivery_id):
        """Lease the delivery when it is due and not leased; return its id,
        lease token and request, or None"""
        table = cls.__table__()
        return cls._lease(table, table.id == delivery_id)

    @classmethod
    def _claim_next(cls):
        "Lease the delivery due the longest, as _claim does"
        return cls._lease(cls.__table__(), None)

    @classmethod
    def _lease(cls, table, where):
        lease = dt.timedelta(seconds=settings.lease())
        try:
            with Transaction().new_transaction() as transaction:
                database = transaction.database
                cursor = transaction.connection.cursor()
                moment = now()
                due = (table.state.in_(OPEN_STATES)
                    & (table.next_attempt_at <= moment)
                    & ((table.lease_expires_at == Null)
                        | (table.lease_expires_at < moment)))
                if where is not None:
                    due &= where
                query = table.select(
                    table.id, where=due,
                    order_by=[table.next_attempt_at.asc, table.id.asc],
                    limit=1)
                if database.has_select_for():
                    query.for_ = database.get_select_for_skip_locked()(
                        'UPDATE')
                cursor.execute(*query)
                row = cursor.fetchone()
                if not row:
                    return None
                delivery_id, = row
                token = secrets.token_hex(16)
                cursor.execute(*table.update(
                        [table.lease_token, table.lease_expires_at],
                        [token, moment + lease],
                        where=due & (table.id == delivery_id)))
                if cursor.rowcount != 1:
                    transaction.rollback()
                    return None
                with without_check_access():
                    delivery = cls(delivery_id)
                    request = delivery._request() \
                        if delivery.webhook.active else None
                transaction.commit()
                return delivery_id, token, request
        except backend.DatabaseOperationalError:
            # Another sender claimed it in the same instant.
            return None

    @classmethod
    def _finish(cls, delivery_id, token, result, attempted_at):
        "Log the attempt and move the delivery to its next state"
        pool = Pool()
        Attempt = pool.get('crm.webhook.attempt')
        with Transaction().new_transaction() as transaction, \
                without_check_access():
            if not cls.search([('id', '=', delivery_id)]):
                # Its webhook was deleted during the attempt.
                logger.info(
                    "delivery %s deleted during its attempt", delivery_id)
                return
            delivery = cls(delivery_id)
            if result is not None:
                Attempt.create([Attempt.values_of(
                            delivery, delivery.attempt_count + 1, result,
                            attempted_at)])
            # A lease expires when a sender takes longer than its lease, and
            # the delivery then belongs to the sender that claimed it since.
            table = cls.__table__()
            cursor = transaction.connection.cursor()
            cursor.execute(*table.select(
                    table.id,
                    where=(table.id == delivery_id)
                    & Equal(table.lease_token, token)))
            if not cursor.fetchone():
                logger.warning(
                    "delivery %s: lease lost during the attempt; the "
                    "attempt is logged, the state left to the new sender",
                    delivery_id)
                transaction.commit()
                return
            delivery._apply(result)
            transaction.commit()

    def _apply(self, result):
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
            if settings.has_queue_worker():
                values['queued_at'] = values['next_attempt_at']
                self.enqueue([self], delay=delay)
            else:
                # Without a worker, queued tasks run at once; the next
                # scan by crm-webhook-worker sends it when due.
                values['queued_at'] = None
        self.write([self], values)
        if result and result.error_kind == sender.GONE:
            self.webhook.disable(
                f"the receiver answered 410 Gone to delivery {self.id}")
        self._log_outcome(result, state, delay)

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
        Attempt = Pool().get('crm.webhook.attempt')
        attempted_at = now()
        result = _post(*self._request())
        attempt, = Attempt.create([Attempt.values_of(
                    self, self.attempt_count + 1, result, attempted_at)])
        self._apply(result)
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
    def values_of(delivery, number, result, attempted_at):
        return {
            'delivery': delivery.id,
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
