#!/usr/bin/python3
"""A line-oriented driver for a headless Chromium over the DevTools protocol, for the console's
browser test (crates/pulse-daemon/tests/console.rs). Usage: cdp.py PORT; then one JSON command
per line on stdin, one JSON answer per line on stdout:

  {"op": "navigate", "url": U}                      -> {"ok": true}
  {"op": "eval", "expr": JS}                        -> {"ok": true, "value": V}   (promises awaited)
  {"op": "wait", "expr": JS, "timeout_ms": N}       -> {"ok": B, "ms": T, "value": V}  (until truthy)
  {"op": "screenshot", "path": P}                   -> {"ok": true}   (full page PNG)
  {"op": "viewport", "width": W, "height": H}       -> {"ok": true}

Needs python3-websocket (Debian's websocket-client). Every wait is bounded by its timeout.
"""
import base64
import json
import sys
import time
import urllib.request

import websocket


def page_socket(port, limit=30.0):
    deadline = time.monotonic() + limit
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2) as r:
                for t in json.load(r):
                    if t.get("type") == "page":
                        return t["webSocketDebuggerUrl"]
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"cdp.py: no page target on port {port} within {limit}s")
        time.sleep(0.1)


class Browser:
    def __init__(self, port):
        self.ws = websocket.create_connection(page_socket(port), timeout=60)
        self.n = 0

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == self.n:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]

    def evaluate(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise RuntimeError(d.get("exception", {}).get("description") or d.get("text"))
        return r["result"].get("value")


def main():
    b = Browser(sys.argv[1])
    b.call("Page.enable")
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            if op == "navigate":
                b.call("Page.navigate", url=cmd["url"])
                out = {"ok": True}
            elif op == "eval":
                out = {"ok": True, "value": b.evaluate(cmd["expr"])}
            elif op == "wait":
                start = time.monotonic()
                limit = cmd.get("timeout_ms", 10000) / 1000
                value = None
                while True:
                    try:
                        # Truthiness as JavaScript sees it (an element is truthy, `{}` in Python is not).
                        value = b.evaluate(f"!!({cmd['expr']})")
                    except RuntimeError as e:
                        value = f"error: {e}"
                    if value and not (isinstance(value, str) and value.startswith("error: ")):
                        out = {"ok": True, "ms": int((time.monotonic() - start) * 1000), "value": value}
                        break
                    if time.monotonic() - start > limit:
                        out = {"ok": False, "ms": int((time.monotonic() - start) * 1000), "value": value}
                        break
                    time.sleep(0.02)
            elif op == "screenshot":
                r = b.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
                with open(cmd["path"], "wb") as f:
                    f.write(base64.b64decode(r["data"]))
                out = {"ok": True}
            elif op == "viewport":
                b.call("Emulation.setDeviceMetricsOverride", width=cmd["width"],
                       height=cmd["height"], deviceScaleFactor=1, mobile=False)
                out = {"ok": True}
            else:
                out = {"ok": False, "error": f"unknown op {op}"}
        except Exception as e:  # the test reads the error as a result
            out = {"ok": False, "error": str(e)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
