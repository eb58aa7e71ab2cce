#!/usr/bin/python3
"""A loopback SMTP server for accessaudit's daemon tests (Debian's python3-aiosmtpd).

Every accepted message is written whole to DIR/<n>.eml (through a temporary
file and a rename). With --rcpt-delay S each RCPT TO is held S seconds, so a
test can kill the client in the middle of a send. Prints "ready" once it
listens; stops on SIGTERM.

    /usr/bin/python3 tests/support/smtp_sink.py --port 2525 --dir /tmp/mail
"""
import argparse
import asyncio
import os
import signal
import threading

from aiosmtpd.controller import Controller


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
                f.write(envelope.original_content or envelope.content)
            os.rename(tmp, path)
        return "250 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--rcpt-delay", type=float, default=0.0)
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    controller = Controller(Sink(a.dir, a.rcpt_delay), hostname="127.0.0.1", port=a.port)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
