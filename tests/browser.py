"""The shared browser for the Playwright tests: a pytest plugin (tests/conftest.py) with the
`browser_page` fixture, a headless Chromium from Debian (.ci/run installs it; browser downloads
are impossible here), and where screenshots go."""

import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
HAVE_CHROMIUM = shutil.which(CHROMIUM) is not None


@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are still plain synchronous calls.
    if not HAVE_CHROMIUM:
        pytest.skip("Chromium is installed by .ci/run")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(10_000)
        yield page
        browser.close()


# axe-core (shipped inside the axe-playwright-python wheel) checks a page's accessibility. It is
# evaluated through the DevTools protocol, which the pages' CSP does not govern, so the policy
# stays on for the rest of the test.
AXE_IMPACTS = ("serious", "critical")


def axe_violations(page, *, impacts=AXE_IMPACTS) -> list[str]:
    """The page's axe-core violations of these impacts, as "rule: target" lines (empty: none)."""
    import axe_playwright_python

    script = Path(axe_playwright_python.__file__).with_name("axe.min.js").read_text()
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(f"() => {{ {script}\n}}")
        page.evaluate("() => { window.axe = window.axe || globalThis.axe; }")
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {', '.join(str(n['target']) for n in v['nodes'][:3])}"
        for v in result["violations"]
        if v.get("impact") in impacts
    ]
