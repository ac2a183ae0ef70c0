"""The ``billbridge sandbox`` command's option checking."""

from __future__ import annotations

import pytest

from desktop.cli import main
from desktop.cli.sandbox import parse_rate_limits


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--size", "ten"], "--size"),
        (["--faults", "5xx=7"], "trigger"),
        (["--faults", "nosuch:5xx=0.1"], "unknown simulator"),
        (["--rate-limit", "chargebee"], "SIMULATOR=REQUESTS/SECONDS"),
        (["--rate-limit", "chargebee=1/x"], "REQUESTS/SECONDS"),
        (["--vendors", "stripe"], "--vendors"),
        (["--port-base", "80"], "--port-base"),
        (["--crm", "base_curency=EUR"], "no setting 'base_curency'"),
        (["--crm", "EUR"], "SETTING=VALUE"),
    ],
)
def test_bad_options_exit_2_with_one_sentence(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sandbox", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err
    assert err.endswith(".")
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_rate_limit_syntax() -> None:
    budgets = parse_rate_limits(["chargebee=100/60,recurly=400/5m", "all=10"])
    assert (budgets["chargebee"].limit, budgets["chargebee"].window) == (100, 60)
    assert budgets["recurly"].window == 300
    assert budgets["all"].limit == 10
