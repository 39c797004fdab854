"""ROS domain ids for runs side by side: MTRACE_TEST_DOMAINS, or each kind of run's default."""

import os

from mtrace_ros.testing import domains
from mtrace_ros.testing.domains import domain_range
from mtrace_ros.testing.domains import pick_domain
import pytest


def test_the_variable_confines_every_pick(monkeypatch):
    monkeypatch.setenv(domains.DOMAINS_VARIABLE, '13-24')
    assert domain_range('120-219') == range(13, 25)
    assert {pick_domain('120-219', salt) for salt in range(100)} == set(range(13, 25))


def test_unset_the_default_range_is_used(monkeypatch):
    monkeypatch.delenv(domains.DOMAINS_VARIABLE, raising=False)
    assert domain_range('120-219') == range(120, 220)
    assert pick_domain('120-219') == 120 + os.getpid() * 31 % 100
    assert pick_domain('7-7', 5) == 7


@pytest.mark.parametrize('value', ['13', '13-', 'a-b', '24-13', '', '13-24-30'])
def test_a_value_that_is_no_range_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(domains.DOMAINS_VARIABLE, value)
    with pytest.raises(ValueError, match='MTRACE_TEST_DOMAINS=.*expected a range LO-HI'):
        pick_domain('1-100')
