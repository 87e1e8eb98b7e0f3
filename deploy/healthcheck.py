"""Container health check for a Curbside web process (docker-compose.yml runs it).

Healthy means daphne answers and Django can read the database: a GET of the public
specialty list returns 200. The request carries a host from ``DJANGO_ALLOWED_HOSTS`` (else
Django answers 400) and ``X-Forwarded-Proto: https`` (else the SSL redirect answers 301),
exactly as nginx would send it. Standard library only: it runs inside the image.

    python deploy/healthcheck.py [port]      exit 0 healthy, 1 not
"""

from __future__ import annotations

import http.client
import os
import sys

PATH = "/api/v1/specialties"


def probe_host(allowed_hosts: str) -> str:
    """The Host header to send: the first concrete name in ``DJANGO_ALLOWED_HOSTS``.

    A leading dot (``.example.org``, "this domain and its subdomains") is dropped; a bare
    ``*`` allows anything, so ``localhost`` will do.
    """
    for item in allowed_hosts.split(","):
        name = item.strip().lstrip(".")
        if name and name != "*":
            return name
    return "localhost"


def main(argv: list[str]) -> int:
    port = int(argv[1]) if len(argv) > 1 else 8000
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(
            "GET",
            PATH,
            headers={
                "Host": probe_host(os.environ.get("DJANGO_ALLOWED_HOSTS", "")),
                "X-Forwarded-Proto": "https",
            },
        )
        status = conn.getresponse().status
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    if status != 200:
        print(f"unhealthy: GET {PATH} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
