"""
deploy/prometheus/: the alert rules and the scrape configuration are valid
for Prometheus (promtool, from Debian's prometheus package: `make test`
installs it), their unit tests pass, and every metric they name is one the
application exports.
"""

import re
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.processes import program
from tests.patreon import consent, log_in, path_of, start_login

PROMETHEUS = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "tests"
METRIC_NAME = re.compile(r"\bventures_[a-z_]+\b")


def promtool(*argv):
    path = program("promtool")
    if path is None:
        pytest.fail("promtool is missing: run `make test` (Debian's prometheus)")
    done = subprocess.run(
        [path, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_rules_are_valid():
    assert "SUCCESS: 5 rules found" in promtool("check", "rules", str(RULES))


def test_the_example_scrape_configuration_is_valid():
    promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))


@pytest.mark.parametrize("tests", sorted(RULE_TESTS.glob("*.yml")), ids=str)
def test_the_rules_unit_tests_pass(tests):
    assert "SUCCESS" in promtool("test", "rules", str(tests))


@pytest.mark.django_db
def test_every_metric_the_rules_and_their_tests_name_is_exported(
    client_factory, fake_patreon, settings
):
    """
    Scrape the application after a login and a refused one: every name the
    rules, their annotations and their tests use is there.
    """
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1/32"]
    log_in(client_factory(), "1001")
    refused = client_factory()
    refused.get(path_of(consent(start_login(refused), decision="deny")))
    response = client_factory().get("/metrics")
    assert response.status_code == 200
    families = list(text_string_to_metric_families(response.content.decode()))
    # A counter with no sample yet (no database error so far) is still
    # declared, as <family>_total.
    exported = {sample.name for family in families for sample in family.samples} | {
        f"{family.name}_total" for family in families if family.type == "counter"
    }
    named = {
        name
        for path in (RULES, *RULE_TESTS.glob("*.yml"))
        for name in METRIC_NAME.findall(path.read_text())
    }
    assert named
    assert named <= exported, named - exported
