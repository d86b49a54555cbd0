#!/usr/bin/env python3
"""A 0-db stand-in for tests: the RESP subset rootfsforge's zdb:// store speaks (docs/flist-format.md §6).

0-db itself is not packaged for Debian. What matters for the tests is its namespace rule, which redis cannot show:
a connection starts in the public `default` namespace and `SELECT NAME [PASSWORD]` switches to NAME, refused
("-Access denied") without NAME's password. Then EXISTS / SET / GET on raw keys, as 0-db's user mode.

Usage: zdb_standin.py PORTFILE NAME:PASSWORD...   (listens on 127.0.0.1, a free port written to PORTFILE)
"""
import socketserver, sys, threading

NAMESPACES = {"default": None}
DATA = {}
LOCK = threading.Lock()


def read_command(f):
    line = f.readline()
    if not line:
        return None
    if not line.startswith(b"*"):
        raise ValueError("expected an array")
    args = []
    for _ in range(int(line[1:])):
        size = int(f.readline()[1:])
        args.append(f.read(size + 2)[:-2])
    return args


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        ns = "default"
        while True:
            try:
                args = read_command(self.rfile)
            except (ValueError, ConnectionError):
                return
            if args is None:
                return
            cmd = args[0].upper()
            if cmd == b"PING":
                self.wfile.write(b"+PONG\r\n")
            elif cmd == b"SELECT":
                name = args[1].decode()
                password = args[2].decode() if len(args) > 2 else None
                if name not in NAMESPACES:
                    self.wfile.write(b"-Namespace not found\r\n")
                elif NAMESPACES[name] is not None and NAMESPACES[name] != password:
                    self.wfile.write(b"-Access denied\r\n")
                else:
                    ns = name
                    self.wfile.write(b"+OK\r\n")
            elif cmd == b"EXISTS":
                with LOCK:
                    found = (ns, args[1]) in DATA
                self.wfile.write(b":%d\r\n" % (1 if found else 0))
            elif cmd == b"SET":
                with LOCK:
                    DATA[(ns, args[1])] = args[2]
                self.wfile.write(b"$%d\r\n%s\r\n" % (len(args[1]), args[1]))
            elif cmd == b"GET":
                with LOCK:
                    value = DATA.get((ns, args[1]))
                self.wfile.write(b"$-1\r\n" if value is None else b"$%d\r\n%s\r\n" % (len(value), value))
            else:
                self.wfile.write(b"-Unknown command\r\n")
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    for spec in sys.argv[2:]:
        name, _, password = spec.partition(":")
        NAMESPACES[name] = password or None
    with Server(("127.0.0.1", 0), Handler) as server:
        with open(sys.argv[1] + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        import os
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        server.serve_forever()
