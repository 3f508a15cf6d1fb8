"""Under CI=true a skipped test fails the run (the hook in tests/conftest.py): CI proves that every
test ran, not that the ones whose prerequisites happened to be there passed."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SKIPPING = """
import pytest

def test_runs():
    pass

def test_skips_itself():
    pytest.skip("no widget on this machine")

@pytest.mark.skipif(True, reason="no gadget either")
def test_skipped_by_a_marker():
    pass

@pytest.fixture
def needs_something():
    pytest.skip("the fixture found nothing")

def test_skipped_by_its_fixture(needs_something):
    pass

@pytest.mark.xfail(reason="known and tracked", strict=True)
def test_expected_to_fail():
    assert False
"""


def run(pytester, ci: str | None, monkeypatch):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    pytester.makepyfile(test_inner=SKIPPING)
    return pytester.runpytest_inprocess("-p", "tests.conftest", "-rA")


def test_under_ci_every_skip_fails_naming_the_test_and_its_reason(pytester, monkeypatch):
    result = run(pytester, "true", monkeypatch)

    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1 and outcomes.get("xfailed") == 1 and "skipped" not in outcomes
    assert outcomes.get("failed", 0) + outcomes.get("errors", outcomes.get("error", 0)) == 3
    assert result.ret != 0
    output = result.stdout.str()
    for name, reason in [
        ("test_skips_itself", "no widget on this machine"),
        ("test_skipped_by_a_marker", "no gadget either"),
        ("test_skipped_by_its_fixture", "the fixture found nothing"),
    ]:
        assert f"test_inner.py::{name} was skipped, and under CI=true every test must run:" in output
        assert reason in output


def test_under_ci_a_module_skipped_at_import_fails_too(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(
        test_needs_a_module="""
import pytest
pytest.importorskip("no_such_module_anywhere", reason="the module is not installed")

def test_never_runs():
    pass
"""
    )
    result = pytester.runpytest_inprocess("-p", "tests.conftest", "-rA")

    assert result.ret != 0
    assert "skipped" not in result.parseoutcomes()
    assert "test_needs_a_module.py was skipped, and under CI=true every test must run" in result.stdout.str()
    assert "the module is not installed" in result.stdout.str()


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_outside_ci_a_skip_is_a_skip(pytester, monkeypatch, ci):
    result = run(pytester, ci, monkeypatch)

    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    assert result.ret == 0
