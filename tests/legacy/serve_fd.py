"""Serves an ASGI app (default app:app) on an inherited listening socket, as `uvicorn --fd N` does.

Why not `uvicorn --fd`: it rebuilds the socket with socket.fromfd(fd, family, SOCK_STREAM), whose
protocol number is 0, and accepted connections inherit it. asyncio only turns on TCP_NODELAY for
sockets whose protocol is IPPROTO_TCP, so under --fd every response the app writes in two pieces
(headers, then body) waits for the peer's delayed ACK: about 40 ms per keep-alive request. A
uvicorn started with --host/--port, as in production, does not have that stall; neither does this.

    /usr/bin/python3 serve_fd.py FD APP_DIR [APP]
"""

import socket
import sys

import uvicorn


class Server(uvicorn.Server):
    async def startup(self, sockets=None):
        await super().startup(sockets=sockets)
        # uvicorn prints no "running" line for sockets handed to run(); tests wait for this one.
        if not self.should_exit:
            print(f"INFO:     Uvicorn running on socket fd {self.config.fd}", file=sys.stderr, flush=True)


def main() -> None:
    fd = int(sys.argv[1])
    app_dir = sys.argv[2]
    app = sys.argv[3] if len(sys.argv) > 3 else "app:app"
    sys.path.insert(0, app_dir)
    sock = socket.socket(fileno=fd)  # family, type and protocol are read from the descriptor
    config = uvicorn.Config(app, fd=fd, log_level="info", access_log=False)
    Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
