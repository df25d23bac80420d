"""crm-webhook-worker: the scan that keeps webhook deliveries moving.

Every ``poll_interval`` seconds (``[crm_webhook] poll_interval``, or
--interval) it queues the deliveries that are due and whose queue task is
missing: retries, and deliveries whose sender died.  What runs the queued
tasks depends on the configuration:

- with ``[queue] worker = True`` (PostgreSQL), trytond-worker processes
  run them, and this program only queues;
- without it (SQLite, or PostgreSQL without workers), Tryton runs queued
  tasks in the process that queued them, so this program sends the
  deliveries itself.

Run it beside trytond (and trytond-worker, if any) with the same
configuration:

    crm-webhook-worker -c trytond.conf -d DATABASE
"""
import argparse
import logging
import signal
import time

logger = logging.getLogger('crm_external_integrations.worker')


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(
        prog='crm-webhook-worker',
        description="Queue and, without trytond-worker, send the webhook "
        "deliveries that are due.")
    parser.add_argument(
        '-c', '--config', dest='config',
        help="trytond configuration file (TRYTOND_CONFIG by default)")
    parser.add_argument(
        '-d', '--database', dest='database', required=True,
        help="database name")
    parser.add_argument(
        '--interval', type=float,
        help="seconds between scans ([crm_webhook] poll_interval, 5 by "
        "default)")
    parser.add_argument(
        '--once', action='store_true', help="scan once and exit")
    parser.add_argument(
        '-v', '--verbose', action='store_true', help="log debug messages")
    return parser.parse_args(argv)


def scan(pool, database):
    "Queue the due deliveries and run the tasks left to this process"
    from trytond.transaction import Transaction
    from trytond.worker import run_task

    Delivery = pool.get('crm.webhook.delivery')
    with Transaction().start(database, 0) as transaction:
        count = Delivery.enqueue_due()
        transaction.commit()
    while transaction.tasks:
        run_task(pool, transaction.tasks.pop())
    return count


def main(argv=None):
    arguments = parse_arguments(argv)
    from trytond import config
    config.update_etc(arguments.config)
    logging.basicConfig(
        level=logging.DEBUG if arguments.verbose else logging.INFO,
        format='%(asctime)s %(process)d %(levelname)s %(name)s %(message)s')

    from trytond import backend
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    from . import settings

    Pool.start()
    pool = Pool(arguments.database)
    with Transaction().start(arguments.database, 0, readonly=True):
        pool.init()
    interval = arguments.interval or settings.poll_interval()

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    logger.info(
        "started on database %s, scanning every %s s, %s", arguments.database,
        interval, "queueing for trytond-worker"
        if settings.has_queue_worker() else "sending in this process")
    while not stopping:
        try:
            count = scan(pool, arguments.database)
        except backend.DatabaseOperationalError as exception:
            # Another process held the rows; the next scan tries again.
            logger.info("scan skipped: %s", exception)
            count = 0
        if arguments.once:
            break
        if not count:
            time.sleep(interval)
    logger.info("stopped")


if __name__ == '__main__':
    main()
