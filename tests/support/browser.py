"""What the pages' browser tests share (tests/test_pages_browser.py, tests/test_console_browser.py): Debian's
chromium and its flags (the `browser` fixture is in browser_fixtures.py), the viewports, a screenshot's
brightness spread and axe-core's serious findings."""
from __future__ import annotations

import base64

from tests.support import ROOT

ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Flags this machine needs: no sandbox as root, no GPU, and none of Chromium's own calls home
# (the network is closed, and those calls would be refused many at a time).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-quic", "--disable-sync"]
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 360, "height": 740}


def brightness_spread(page, png: bytes) -> float:
    """The variance of the screenshot's pixel brightness, decoded by the browser's own PNG decoder in `page`
    (any page of the gateway: a blank or one-colour screenshot has about 0)."""
    return page.evaluate("""async (data) => {
        const bitmap = await createImageBitmap(await (await fetch(`data:image/png;base64,${data}`)).blob());
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
        const context = canvas.getContext("2d");
        context.drawImage(bitmap, 0, 0);
        const pixels = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
        let sum = 0, squares = 0, count = 0;
        for (let i = 0; i < pixels.length; i += 4) {
            const value = (pixels[i] + pixels[i + 1] + pixels[i + 2]) / 3;
            sum += value; squares += value * value; count += 1;
        }
        return squares / count - (sum / count) ** 2;
    }""", base64.b64encode(png).decode())


def serious_violations(page) -> list:
    """axe-core's serious and critical findings on the page as it is now: (rule, impact, first targets)."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [(v["id"], v["impact"], [node["target"] for node in v["nodes"]][:3]) for v in results["violations"]
            if v["impact"] in ("serious", "critical")]
