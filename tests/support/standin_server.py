"""Stand-in engine servers for managed-engine tests: Python source run as the engine's command
(`python -c SOURCE PORT`). Each answers every GET (the health wait's /health) with 200 "ok" on
127.0.0.1:PORT, then behaves as its test needs: serve on, crash, or leave politely on SIGTERM.
They keep those tests fast where what is tested is the process handling, not vLLM (the real
tiny engine covers that in test_engine_no_orphan.py and the engine tests).
"""

from __future__ import annotations

_HANDLER = """
import http.server, signal, sys, threading, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
"""
_SERVE = """
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
"""
_FOREVER = """
while True:
    time.sleep(0.1)
"""


def standin_server(before: str = "", after: str = _FOREVER) -> str:
    """The source of a stand-in server: `before` runs before it listens, `after` once it serves
    (by default: serve until killed)."""
    return _HANDLER + before + _SERVE + after


# serves until it is killed
SERVER = standin_server()

# serves for a second, then dies as a crashing vLLM does (a traceback line, exit status 3)
CRASHING_SERVER = standin_server(
    after="""
time.sleep(1.0)
print("RuntimeError: simulated engine crash", flush=True)
sys.exit(3)
"""
)

# serves; on SIGTERM says so and exits cleanly
POLITE_SERVER = standin_server(
    before="""
def bye(*_):
    print("server: got SIGTERM, shutting down", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
"""
)
