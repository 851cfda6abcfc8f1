"""smartpapers-loadtest command line: the loopback guard (a remote target needs --allow-remote,
exit code 2 otherwise) and the mapping of the options to the run's configuration."""

from __future__ import annotations

import pytest

from smartpapers.loadtest import cli

# ---------------------------------------------------------------------------- loopback guard


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://[::1]:8000",
        "http://127.9.9.9",
        "https://api.localhost",
    ],
)
def test_loopback_targets_are_allowed(url: str) -> None:
    assert cli.is_loopback(url)
    cli.check_target(url, allow_remote=False)


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5:8000", "https://api.example.com", "http://0.0.0.0:8000"]
)
def test_remote_targets_need_allow_remote(url: str) -> None:
    with pytest.raises(cli.RemoteRefused, match="not a loopback address.*--allow-remote"):
        cli.check_target(url, allow_remote=False)
    cli.check_target(url, allow_remote=True)


def test_cli_refuses_a_remote_host_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--url", "https://exam.example.edu", "--total", "1"]) == cli.EXIT_USAGE
    assert "--allow-remote" in capsys.readouterr().err
    code = cli.main(["--metrics-url", "http://10.1.1.1/metrics", "--total", "1"])
    assert code == cli.EXIT_USAGE
    with pytest.raises(cli.RemoteRefused, match="not an http"):
        cli.check_target("ftp://127.0.0.1", allow_remote=True)


def test_cli_options_map_to_the_config() -> None:
    args = cli.build_parser().parse_args(["--burst", "--total", "500", "--no-wait"])
    c = cli.config_from_args(args)
    assert (c.burst, c.concurrency, c.total, c.wait) == (True, 500, 500, False)
    c = cli.config_from_args(cli.build_parser().parse_args(["--rate", "20"]))
    assert (c.rate, c.concurrency, c.url) == (20, 100, "http://127.0.0.1:8000")
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--rate", "5", "--burst"])
