"""A forward proxy for HTTPS_PROXY tests: it answers CONNECT host:port with a tunnel to 127.0.0.1 and copies
bytes both ways until either side closes. Counts the tunnels it opened. Standard library only."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _TunnelHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy = None  # the owning ConnectProxy, set on a per-server subclass

    def log_message(self, format, *args):
        pass

    def do_CONNECT(self):
        host, _, port = self.path.rpartition(":")
        if host not in ("127.0.0.1", "localhost"):  # loopback only: nothing here may reach another host
            self.send_error(403)
            return
        upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
        self.proxy.tunnels += 1
        self.send_response(200, "Connection Established")
        self.end_headers()
        self.wfile.flush()
        with upstream:
            copier = threading.Thread(target=_copy, args=(upstream, self.connection), daemon=True)
            copier.start()
            _copy(self.connection, upstream)
            copier.join(timeout=10)
        self.close_connection = True


def _copy(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        try:
            target.shutdown(socket.SHUT_WR)  # the other direction goes on until its own end
        except OSError:
            pass


class ConnectProxy:
    def __init__(self):
        handler = type("Handler", (_TunnelHandler,), {"proxy": self})
        self.tunnels = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
