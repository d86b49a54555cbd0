#!/usr/bin/env python3
"""A file server for the definition tests: serves a folder with HTTP Range support (206), and
/drop/NAME, which closes the connection half-way through the first full request for NAME.
Every request line and Range header is appended to the log file. Prints the port on stdout."""
import http.server, os, socketserver, sys, threading

root, log = sys.argv[1], sys.argv[2]
dropped = set()
lock = threading.Lock()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        rng = self.headers.get("Range")
        with lock, open(log, "a") as f:
            f.write(f"{self.path} {rng or '-'}\n")
        path = self.path
        drop = path.startswith("/drop/")
        if drop:
            path = path[len("/drop"):]
        full = os.path.join(root, path.lstrip("/"))
        if ".." in path or not os.path.isfile(full):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = os.path.getsize(full)
        start = 0
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        limit = size - start
        if drop and rng is None:
            with lock:
                first = path not in dropped
                dropped.add(path)
            if first:
                limit = (size - start) * 2 // 5
        with open(full, "rb") as f:
            f.seek(start)
            left = limit
            while left > 0:
                chunk = f.read(min(65536, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)
        if limit < size - start:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
