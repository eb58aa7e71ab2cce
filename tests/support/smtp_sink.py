#!/usr/bin/python3
"""A loopback SMTP server for accessaudit's daemon tests (Debian's python3-aiosmtpd).

Every accepted message is written whole to DIR/<n>.eml (through a temporary
file and a rename). With --rcpt-delay S each RCPT TO is held S seconds, so a
test can kill the client in the middle of a send. With --tls-cert/--tls-key
it offers STARTTLS and requires it; with --auth USER:PASSWORD it requires
authentication (after STARTTLS). Prints "ready" once it listens; stops on
SIGTERM.

    /usr/bin/python3 tests/support/smtp_sink.py --port 2525 --dir /tmp/mail
"""
import argparse
import asyncio
import os
import signal
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Sink:
    def __init__(self, directory, rcpt_delay):
        self.directory = directory
        self.rcpt_delay = rcpt_delay
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_delay:
            await asyncio.sleep(self.rcpt_delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            n = len([f for f in os.listdir(self.directory) if f.endswith(".eml")])
            path = os.path.join(self.directory, "%06d.eml" % (n + 1))
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n")
                f.write(b"X-Sink-TLS: " + (b"yes" if session.ssl else b"no") + b"\r\n")
                if session.authenticated:
                    login = getattr(session.auth_data, "login", None) or b"?"
                    f.write(b"X-Sink-Auth: " + login + b"\r\n")
                f.write(envelope.original_content or envelope.content)
            os.rename(tmp, path)
        return "250 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--rcpt-delay", type=float, default=0.0)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--auth")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    options = {}
    if a.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.tls_cert, a.tls_key)
        options.update(tls_context=context, require_starttls=True)
    if a.auth:
        user, password = a.auth.encode().split(b":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == user and auth_data.password == password
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

        options.update(authenticator=authenticator, auth_required=True,
                       auth_require_tls=bool(a.tls_cert))
    controller = Controller(Sink(a.dir, a.rcpt_delay), hostname="127.0.0.1", port=a.port,
                            **options)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
