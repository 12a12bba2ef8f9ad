"""A webhook receiver on loopback that verifies every delivery with the
`standardwebhooks` package (an implementation independent of longrun's).

    python3 receiver.py [--port N] --secret NAME=whsec_... [--secret ...]

Deliveries are POSTed to /hooks/NAME and verified with NAME's secret. The
first line printed is `listening PORT`. For tests:

    GET /_received           every delivery, in order, and the count of
                             those that failed verification
    PUT /_mode/NAME {json}   how NAME answers from now on:
                             {"status": 204}            always this status
                             {"fail_first": 2,          each webhook-id gets
                              "failure_status": 500}    500 twice, then status
                             {"delay_ms": 3000}         answer this late
                             {"status": 307,            a redirect to there
                              "location": "/hooks/b"}

Plain asyncio with keep-alive, so that it keeps up with a benchmark.
"""

import argparse
import asyncio
import json
import sys
from collections import Counter

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

REASONS = {200: "OK", 204: "No Content", 307: "Temporary Redirect", 400: "Bad Request", 404: "Not Found", 410: "Gone", 500: "Internal Server Error", 503: "Service Unavailable"}


class Receiver:
    def __init__(self, secrets):
        self.webhooks = {name: Webhook(secret) for name, secret in secrets.items()}
        self.modes = {name: {} for name in secrets}
        self.received = []
        self.unverified = 0
        self.attempts = Counter()

    def hook(self, name, headers, body):
        webhook = self.webhooks.get(name)
        if webhook is None:
            return 404, b"", None
        mode = self.modes[name]
        wanted = {k: headers.get(k, "") for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        try:
            event = webhook.verify(body, wanted)
        except WebhookVerificationError:
            self.unverified += 1
            return 400, b"", None
        webhook_id = wanted["webhook-id"]
        self.attempts[(name, webhook_id)] += 1
        status = mode.get("status", 204)
        location = mode.get("location")
        if self.attempts[(name, webhook_id)] <= mode.get("fail_first", 0):
            status = mode.get("failure_status", 500)
        self.received.append({
            "endpoint": name,
            "webhook_id": webhook_id,
            "type": event.get("type"),
            "timestamp": event.get("timestamp"),
            "operation_id": event.get("data", {}).get("id"),
            "status": event.get("data", {}).get("status"),
            "data": event.get("data"),
            "content_type": headers.get("content-type"),
            "answered": status,
        })
        return status, b"", location

    def control(self, method, path, body):
        if method == "GET" and path == "/_received":
            return 200, json.dumps({"deliveries": self.received, "unverified": self.unverified}).encode()
        if method == "PUT" and path.startswith("/_mode/"):
            name = path[len("/_mode/"):]
            if name not in self.modes:
                return 404, b""
            self.modes[name] = json.loads(body or b"{}")
            return 200, b"{}"
        return 404, b""

    async def serve(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        key, value = line.split(":", 1)
                        headers[key.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                path = target.split("?", 1)[0]
                delay, location = 0, None
                if path.startswith("/hooks/"):
                    name = path[len("/hooks/"):]
                    delay = self.modes.get(name, {}).get("delay_ms", 0)
                    status, payload, location = self.hook(name, headers, body)
                else:
                    status, payload = self.control(method, path, body)
                more = f"location: {location}\r\n" if location else ""
                if delay:
                    await asyncio.sleep(delay / 1000)
                writer.write(
                    f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
                    f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n{more}\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", action="append", default=[], help="NAME=whsec_...")
    args = parser.parse_args()
    secrets = dict(pair.split("=", 1) for pair in args.secret)
    receiver = Receiver(secrets)
    server = await asyncio.start_server(receiver.serve, "127.0.0.1", args.port, reuse_address=True, backlog=1024)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
