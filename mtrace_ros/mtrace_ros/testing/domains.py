"""
ROS domain ids for runs that go on side by side on one machine (tests, benchmarks).

``MTRACE_TEST_DOMAINS=LO-HI`` confines every id a run picks to ``LO`` ..
``HI``: give each run started at the same time a range of its own. Unset,
each kind of run has its default range. Within the range the id depends on
the process id (and a per-call salt), so runs that share a range rarely meet.
"""

import os

#: The environment variable: an inclusive range ``LO-HI`` of ROS domain ids.
DOMAINS_VARIABLE = 'MTRACE_TEST_DOMAINS'


def domain_range(default: str) -> range:
    """
    Return the domain ids of :data:`DOMAINS_VARIABLE`, or of ``default`` when it is unset.

    :raises ValueError: naming the variable, when its value is no ``LO-HI`` range.
    """
    value = os.environ.get(DOMAINS_VARIABLE, default)
    low, dash, high = value.partition('-')
    try:
        ids = range(int(low), int(high) + 1)
    except ValueError:
        ids = range(0)
    if not dash or not ids:
        raise ValueError(f'{DOMAINS_VARIABLE}={value!r}: expected a range LO-HI, e.g. 13-24')
    return ids


def pick_domain(default: str, salt: int = 0) -> int:
    """Return a domain id of :func:`domain_range`, chosen by process id and ``salt``."""
    ids = domain_range(default)
    return ids[(os.getpid() * 31 + salt) % len(ids)]
