"""The runner's garbage collector settings (``GC_THRESHOLDS``), as a unit: what it sets, and a
clear refusal of a value it cannot use."""
import gc

import pytest

from services.kernel.runner import tune_garbage_collector


@pytest.fixture
def collector_restored():
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


def test_the_thresholds_are_set_and_what_exists_at_start_is_frozen(collector_restored):
    gc.unfreeze()
    tune_garbage_collector("50000,20,10")
    assert gc.get_threshold() == (50000, 20, 10)
    assert gc.get_freeze_count() > 0  # the modules, classes and config made before the service runs


@pytest.mark.parametrize("value", ["", "fast", "1,2,3,4", "0,10,10", "-5"])
def test_a_value_it_cannot_use_stops_the_process_with_the_reason(collector_restored, value):
    before = gc.get_threshold()
    with pytest.raises(SystemExit, match="GC_THRESHOLDS must be one to three positive integers"):
        tune_garbage_collector(value)
    assert gc.get_threshold() == before
