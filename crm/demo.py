"""Company set-up and demo data for a new CRM database.

    python -m crm.demo --database NAME [--accounts N] [--company-only]

Creates the currencies USD, EUR and GBP and a company with two sales
employees, and links the admin user to them.  Unless --company-only is
given, it then adds accounts with contacts, deals in every stage and
activities.  A database that has a company already is left unchanged.
"""
import argparse
import datetime as dt
import random
import sys
from decimal import Decimal

CURRENCIES = [
    ('USD', "U.S. Dollar", '$'),
    ('EUR', "Euro", '€'),
    ('GBP', "Pound Sterling", '£'),
    ]
COMPANY_NAME = "Demo Company"
EMPLOYEES = ["Grace Hopper", "Alan Turing"]

ACCOUNT_NAMES = [
    "Analytical Engines", "Difference Works", "Babbage & Sons",
    "Jacquard Looms", "Hollerith Tabulating", "Zuse Computing",
    "Colossus Systems", "Manchester Baby", "Eckert Mauchly",
    "Leo Offices", "Pilot Ace", "Harvard Relays",
    ]
FIRST_NAMES = ["Ada", "Charles", "Mary", "John", "Hedy", "Claude",
    "Margaret", "Dennis", "Barbara", "Edsger", "Frances", "Donald"]
LAST_NAMES = ["Lovelace", "Babbage", "Somerville", "Neumann", "Lamarr",
    "Shannon", "Hamilton", "Ritchie", "Liskov", "Dijkstra", "Allen",
    "Knuth"]
JOB_TITLES = ["CTO", "Head of Sales", "Buyer", "CEO", "Engineer"]
STAGES = ['lead', 'lead', 'opportunity', 'opportunity', 'won', 'lost']
ACTIVITY_TYPES = ['call', 'email', 'meeting', 'note', 'task']


def set_up_company(pool):
    "Create currencies, the company and its employees; return the company"
    Company = pool.get('company.company')
    companies = Company.search([], limit=1)
    if companies:
        return companies[0]

    Currency = pool.get('currency.currency')
    Party = pool.get('party.party')
    Employee = pool.get('company.employee')
    User = pool.get('res.user')

    currencies = {}
    for code, name, symbol in CURRENCIES:
        existing = Currency.search([('code', '=', code)], limit=1)
        currency, = existing or Currency.create([{
                    'code': code, 'name': name, 'symbol': symbol,
                    'rounding': Decimal('0.01'), 'digits': 2}])
        currencies[code] = currency

    company_party, = Party.create([{'name': COMPANY_NAME}])
    company, = Company.create([{
                'party': company_party.id,
                'currency': currencies['USD'].id}])
    employees = Employee.create([{
                'party': Party.create([{
                            'name': name, 'kind': 'person',
                            'first_name': name.split()[0],
                            'last_name': name.split()[1]}])[0].id,
                'company': company.id}
            for name in EMPLOYEES])

    admin, = User.search([('login', '=', 'admin')])
    User.write([admin], {
            'companies': [('add', [company.id])],
            'company': company.id,
            'employees': [('add', [e.id for e in employees])],
            'employee': employees[0].id,
            })
    return company


def load_demo(pool, company, accounts=12, seed=1):
    "Create accounts, contacts, deals and activities"
    from trytond.transaction import Transaction

    Party = pool.get('party.party')
    Opportunity = pool.get('sale.opportunity')
    Activity = pool.get('crm.activity')
    Employee = pool.get('company.employee')
    Currency = pool.get('currency.currency')

    rng = random.Random(seed)
    employees = Employee.search([('company', '=', company.id)])
    currencies = Currency.search([])
    today = dt.date.today()
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)

    with Transaction().set_context(company=company.id):
        for index in range(accounts):
            name = ACCOUNT_NAMES[index % len(ACCOUNT_NAMES)]
            if index >= len(ACCOUNT_NAMES):
                name += f" {index // len(ACCOUNT_NAMES) + 1}"
            slug = name.lower().replace(' ', '').replace('&', '')
            account, = Party.create([{
                        'name': name, 'kind': 'organisation',
                        'website': f'https://{slug}.example.com',
                        'phone': f'+1 555 01{index:02d}'}])
            contacts = Party.create([{
                        'kind': 'person',
                        'first_name': rng.choice(FIRST_NAMES),
                        'last_name': rng.choice(LAST_NAMES),
                        'job_title': rng.choice(JOB_TITLES),
                        'account': account.id,
                        'email': f'person{index}.{n}@{slug}.example.com',
                        }
                    for n in range(3)])
            deals = Opportunity.create([{
                        'description': f"{rng.choice([5, 10, 50, 100])} "
                        f"licences for {name}",
                        'party': account.id,
                        'contact_person': contacts[n].id,
                        'employee': rng.choice(employees).id,
                        'company': company.id,
                        'currency': rng.choice(currencies).id,
                        'amount': Decimal(rng.randrange(1000, 90000, 250)),
                        'state': rng.choice(STAGES),
                        'end_date': today + dt.timedelta(
                            days=rng.randrange(5, 120)),
                        }
                    for n in range(2)])
            Activity.create([{
                        'type': rng.choice(ACTIVITY_TYPES),
                        'subject': f"Follow up with {contacts[n].name}",
                        'contact': contacts[n].id,
                        'account': account.id,
                        'deal': deals[n % len(deals)].id,
                        'owner': rng.choice(employees).id,
                        'company': company.id,
                        'due_at': now + dt.timedelta(
                            days=rng.randrange(-10, 20)),
                        'done': n == 0,
                        'done_at': now if n == 0 else None,
                        }
                    for n in range(3)])


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m crm.demo')
    parser.add_argument('--database', required=True)
    parser.add_argument('--accounts', type=int, default=12)
    parser.add_argument(
        '--company-only', action='store_true',
        help="set up the company and stop, without demo records")
    options = parser.parse_args(argv)

    from trytond.pool import Pool
    from trytond.transaction import Transaction
    Pool.start()
    pool = Pool(options.database)
    with Transaction().start(options.database, 0, readonly=True):
        pool.init()
    with Transaction().start(options.database, 0) as transaction:
        Company = pool.get('company.company')
        if Company.search([], limit=1):
            print("database already set up; nothing added", file=sys.stderr)
            return 0
        company = set_up_company(pool)
        if not options.company_only:
            load_demo(pool, company, options.accounts)
        transaction.commit()
    return 0


if __name__ == '__main__':
    sys.exit(main())
