"""Accessibility checks for the browser tests: axe-core (vendored: tests/support/axe/README.md)
run inside the page; a test fails on any serious or critical violation."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

AXE = Path(__file__).with_name("axe") / "axe.min.js"
BLOCKING = ("serious", "critical")

_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + ": " + n.failureSummary),
  }));
}"""


def with_axe(page: Page) -> Page:
    """Make axe available in every document this page loads (call before ``goto``)."""
    page.add_init_script(path=str(AXE))
    return page


def assert_accessible(page: Page, screen: str) -> None:
    """No serious or critical axe violation on what the page shows now."""
    violations = [v for v in page.evaluate(_RUN) if v["impact"] in BLOCKING]
    assert not violations, f"axe on {screen}: " + "; ".join(
        f"[{v['impact']}] {v['id']} ({v['help']}): {v['nodes']}" for v in violations)
