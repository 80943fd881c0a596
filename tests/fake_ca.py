#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""A misbehaving ACME CA for the regression tests of issue 17 (t_acme_fake.sh).

Pebble is a correct CA; the client must also survive CAs (or clocks) that
are not. This one speaks enough RFC 8555 for the proxy's client: directory,
nonces, accounts, orders whose authorizations are already valid, finalize,
certificate download. It does not verify signatures (the client's JWS is
tested against Pebble). What it issues depends on WORKDIR/mode, re-read at
every order, so a test can change it while the proxy runs:

  ok           a certificate for exactly the ordered names, 90 days
  extra_name   the ordered names plus "extra.test"
  short        the ordered names, but expiring in 20 seconds (already due
               for renewal when it arrives: a third of its lifetime left)
  wrong_key    a certificate for another key than the CSR's
  rate_limited newOrder answers 429 rateLimited with Retry-After: 4

Every newOrder is appended to WORKDIR/orders.log as
"ORDER <unix time> <mode> profile=<its profile or ->". The directory
announces the profiles "classic" and "shortlived" (as Let's Encrypt's does).
Certificates are signed with certtool (gnutls-bin) by WORKDIR/ca.pem/ca.key.
Usage: fake_ca.py PORT WORKDIR   (serves HTTPS with WORKDIR/srv.pem/srv.key)
"""
import base64
import datetime
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
WORK = sys.argv[2]
BASE = "https://127.0.0.1:%d" % PORT
LOCK = threading.Lock()
STATE = {"n": 0, "orders": {}}


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def mode():
    try:
        with open(os.path.join(WORK, "mode")) as f:
            return f.read().strip()
    except OSError:
        return "ok"


def certtool(args):
    subprocess.run(["certtool"] + args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30)


def issue(n, names, csr_der, how):
    """PEM chain (leaf + CA) for order n."""
    d = os.path.join(WORK, "o%d" % n)
    os.makedirs(d, exist_ok=True)
    csr = os.path.join(d, "csr.pem")
    with open(csr, "w") as f:
        f.write("-----BEGIN CERTIFICATE REQUEST-----\n")
        b = base64.b64encode(csr_der).decode()
        for i in range(0, len(b), 64):
            f.write(b[i:i + 64] + "\n")
        f.write("-----END CERTIFICATE REQUEST-----\n")
    now = datetime.datetime.now(datetime.timezone.utc)
    fmt = "%Y-%m-%d %H:%M:%S"
    tmpl = os.path.join(d, "leaf.tmpl")
    with open(tmpl, "w") as f:
        f.write('cn = "%s"\n' % names[0])
        for name in names + (["extra.test"] if how == "extra_name" else []):
            f.write('dns_name = "%s"\n' % name)
        f.write("serial = %d\n" % (1000 + n))
        f.write("tls_www_server\nsigning_key\n")
        if how == "short":
            f.write('activation_date = "%s"\n' %
                    (now - datetime.timedelta(seconds=40)).strftime(fmt))
            f.write('expiration_date = "%s"\n' %
                    (now + datetime.timedelta(seconds=20)).strftime(fmt))
        else:
            f.write("expiration_days = 90\n")
    leaf = os.path.join(d, "leaf.pem")
    common = ["--generate-certificate", "--template", tmpl,
              "--load-ca-certificate", os.path.join(WORK, "ca.pem"),
              "--load-ca-privkey", os.path.join(WORK, "ca.key"),
              "--outfile", leaf]
    if how == "wrong_key":
        other = os.path.join(d, "other.key")
        certtool(["--generate-privkey", "--key-type", "ecdsa", "--outfile", other])
        certtool(common + ["--load-privkey", other])
    else:
        certtool(common + ["--load-request", csr])
    with open(leaf) as f, open(os.path.join(WORK, "ca.pem")) as g:
        return f.read() + g.read()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))

    def send(self, code, body=b"", ctype="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Replay-Nonce", base64.urlsafe_b64encode(os.urandom(12)).decode().rstrip("="))
        self.send_header("Cache-Control", "no-store")
        if body or self.command != "HEAD":
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.send(200)

    def do_GET(self):
        if self.path == "/dir":
            self.send(200, {"newNonce": BASE + "/nonce", "newAccount": BASE + "/acct",
                            "newOrder": BASE + "/order",
                            "meta": {"profiles": {"classic": "90 days",
                                                  "shortlived": "6 days"}}})
        elif self.path == "/nonce":
            self.send(204)
        else:
            self.send(404, {"type": "urn:ietf:params:acme:error:malformed"},
                      "application/problem+json")

    def order_doc(self, n):
        o = STATE["orders"][n]
        doc = {"status": o["status"], "identifiers": [{"type": "dns", "value": x} for x in o["names"]],
               "authorizations": [BASE + "/authz/%d/%d" % (n, i) for i in range(len(o["names"]))],
               "finalize": BASE + "/finalize/%d" % n}
        if o["status"] == "valid":
            doc["certificate"] = BASE + "/cert/%d" % n
        return doc

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            jws = json.loads(body)
            payload = json.loads(b64d(jws["payload"])) if jws.get("payload") else None
        except (ValueError, KeyError):
            self.send(400, {"type": "urn:ietf:params:acme:error:malformed"}, "application/problem+json")
            return
        p = self.path.split("/")
        with LOCK:
            if self.path == "/acct":
                self.send(201, {"status": "valid"}, headers={"Location": BASE + "/acct/1"})
            elif self.path == "/order":
                how = mode()
                with open(os.path.join(WORK, "orders.log"), "a") as f:
                    f.write("ORDER %.3f %s profile=%s\n" % (time.time(), how,
                                                           payload.get("profile", "-")))
                if how == "rate_limited":
                    self.send(429, {"type": "urn:ietf:params:acme:error:rateLimited",
                                    "detail": "too many certificates"},
                              "application/problem+json", {"Retry-After": "4"})
                    return
                STATE["n"] += 1
                n = STATE["n"]
                STATE["orders"][n] = {"status": "ready", "how": how,
                                      "names": [i["value"] for i in payload["identifiers"]]}
                self.send(201, self.order_doc(n), headers={"Location": BASE + "/order/%d" % n})
            elif len(p) == 4 and p[1] == "authz":
                name = STATE["orders"][int(p[2])]["names"][int(p[3])]
                self.send(200, {"status": "valid", "identifier": {"type": "dns", "value": name},
                                "challenges": []})
            elif len(p) == 3 and p[1] == "finalize":
                n = int(p[2])
                o = STATE["orders"][n]
                o["chain"] = issue(n, o["names"], b64d(payload["csr"]), o["how"])
                o["status"] = "valid"
                self.send(200, self.order_doc(n), headers={"Location": BASE + "/order/%d" % n})
            elif len(p) == 3 and p[1] == "order":
                self.send(200, self.order_doc(int(p[2])))
            elif len(p) == 3 and p[1] == "cert":
                self.send(200, STATE["orders"][int(p[2])]["chain"], "application/pem-certificate-chain")
            else:
                self.send(404, {"type": "urn:ietf:params:acme:error:malformed"}, "application/problem+json")


srv = ThreadingHTTPServer(("127.0.0.1", PORT), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(WORK, "srv.pem"), os.path.join(WORK, "srv.key"))
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
