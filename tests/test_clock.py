from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from portal import clock as portal_clock


def test_it_reads_the_real_time_without_a_clock_file(settings):
    settings.CLOCK_FILE = ""
    before = timezone.now()
    assert before <= portal_clock.now() <= timezone.now()


def test_a_set_clock_runs_on_from_the_instant_it_was_set_to(clock):
    clock.set(datetime(2030, 1, 7, 8, 59, tzinfo=UTC))
    read = clock.now()
    assert (
        datetime(2030, 1, 7, 8, 59, tzinfo=UTC) <= read < datetime(2030, 1, 7, 8, 59, tzinfo=UTC) + timedelta(seconds=5)
    )


def test_an_instant_without_its_offset_is_refused(clock, settings):
    with open(settings.CLOCK_FILE, "w") as handle:
        handle.write("2030-01-07T08:59:00")
    with pytest.raises(ImproperlyConfigured, match="without its UTC offset"):
        portal_clock.now()
