#!/usr/bin/env python3
"""A webhook receiver for trying the ledger's deliveries on a laptop.

    python3 infra/webhook-receiver.py 9000 [SECRET_FILE]

Listens on 127.0.0.1:PORT, answers every POST with 200 (or with the status
in the file `STATUS_FILE` beside the secret, to play a failing receiver),
and prints one line per delivery: the type, the event id, the attempt and
whether the signature holds. With SECRET_FILE (read at every request, so it
may be written after the receiver starts) it checks `Ledger-Signature` as a
receiver must: HMAC-SHA256 keyed with the secret over "<t>.<body>",
compared in constant time, refused when t is more than 5 minutes away.
Standard library only."""
import hashlib
import hmac
import http.server
import json
import os
import sys
import time

TOLERANCE_SECONDS = 300


def verify(header, secret, body):
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    timestamps = [v for k, v in parts if k.strip() == "t"]
    signatures = [v for k, v in parts if k.strip() == "v1"]
    if not timestamps or not signatures:
        return "malformed signature header"
    t = timestamps[0]
    if abs(time.time() - int(t)) > TOLERANCE_SECONDS:
        return "timestamp outside the tolerance"
    expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    if any(hmac.compare_digest(expected, s) for s in signatures):
        return "signature ok"
    return "SIGNATURE DOES NOT MATCH"


class Receiver(http.server.BaseHTTPRequestHandler):
    secret_file = None

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        status = 200
        check = "signature not checked (no secret file)"
        if self.secret_file and os.path.exists(self.secret_file):
            with open(self.secret_file) as f:
                check = verify(self.headers.get("Ledger-Signature", ""), f.read().strip(), body)
            status_file = os.path.join(os.path.dirname(self.secret_file), "STATUS_FILE")
            if os.path.exists(status_file):
                with open(status_file) as f:
                    status = int(f.read().strip() or "200")
        try:
            event = json.loads(body)
        except ValueError:
            event = {}
        print(
            event.get("type"),
            event.get("id"),
            "attempt", self.headers.get("Ledger-Delivery-Attempt"),
            "->", status, "|", check,
            flush=True,
        )
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    Receiver.secret_file = sys.argv[2] if len(sys.argv) > 2 else None
    print(f"receiving on http://127.0.0.1:{port}/", flush=True)
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()
