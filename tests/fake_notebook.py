"""A stand-in for jupyterhub-singleuser in emulated tasks: an HTTP server on the address and
port JupyterHub hands a server (JUPYTERHUB_SERVICE_URL), answering every GET with 200.

The end-to-end tests run the real jupyterhub-singleuser; this keeps spawner tests fast.
"""

from __future__ import annotations

import http.server
import os
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"fake notebook of {os.environ.get('JUPYTERHUB_USER', '?')}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    url = urllib.parse.urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    server = http.server.ThreadingHTTPServer((url.hostname or "", url.port or 8888), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
