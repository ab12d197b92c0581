"""Local applications whose real web UI the real-screens generator renders.

Everything listens on 127.0.0.1 only and lives in a private temporary
directory, so the system's own configuration (/etc/cups, /var/spool/cups, the
system cupsd, ...) is never read for state nor written.

* :class:`DocServer` -- a tiny threaded ``http.server`` that serves the HTML
  documentation installed by Debian packages under ``/usr/share``.
* :class:`CupsApp` -- a private ``cupsd`` (Debian package ``cups-daemon``)
  started in the foreground (``cupsd -f -c <conf> -s <files-conf>``) on
  ``127.0.0.1:<port>`` with an "open" policy (no authentication, loopback
  only), a few fixed queues whose device is ``file:///dev/null`` and one
  printer class.  Its web interface (home, administration, printers, classes,
  jobs, help, and the forms behind the admin buttons) is what gets rendered.
  Stopped with SIGTERM to the process we started, then SIGKILL if needed.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

CUPSD = "/usr/sbin/cupsd"
LPADMIN = shutil.which("lpadmin") or "/usr/sbin/lpadmin"

# Queues created in the private cupsd: (name, model, description, location).
CUPS_PRINTERS = [
    ("Office_Laser", "drv:///sample.drv/generic.ppd", "Office laser, second floor", "Room 214"),
    ("Label_Printer", "drv:///sample.drv/dymo.ppd", "Shipping labels", "Warehouse dock"),
    ("Design_Plotter", "drv:///sample.drv/generpcl.ppd", "Large format plotter", "Studio B"),
]
CUPS_CLASS = ("Office_Group", ["Office_Laser", "Design_Plotter"])

_CUPSD_CONF = """\
LogLevel warn
MaxLogSize 0
Listen 127.0.0.1:{port}
Browsing No
WebInterface Yes
DefaultAuthType None
DefaultPolicy open
IdleExitTimeout 0
<Location />
  Order allow,deny
  Allow from 127.0.0.1
</Location>
<Policy open>
  JobPrivateAccess default
  JobPrivateValues default
  SubscriptionPrivateAccess default
  SubscriptionPrivateValues default
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
"""

_CUPS_FILES_CONF = """\
SystemGroup root
ServerRoot {root}/etc
RequestRoot {root}/spool
TempDir {root}/spool/tmp
CacheDir {root}/cache
StateDir {root}/state
AccessLog {root}/log/access_log
ErrorLog {root}/log/error_log
PageLog {root}/log/page_log
FileDevice Yes
"""


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as the servers themselves do
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(preferred: int) -> int:
    """``preferred`` if it is free on 127.0.0.1, else an ephemeral free port."""
    if preferred and port_free(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read(16)
                return
        except Exception as e:  # noqa: BLE001 - retry until the deadline
            last = e
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s: {last}")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D401 - silence per-request logging
        pass


class DocServer:
    """Serve ``root`` (default ``/usr/share``) on 127.0.0.1 in a thread."""

    def __init__(self, root: str = "/usr/share", port: int = 18471):
        self.root = root
        self.port = pick_port(port)
        self._httpd = None
        self._thread = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "DocServer":
        handler = functools.partial(_QuietHandler, directory=self.root)
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class CupsApp:
    """A private cupsd on 127.0.0.1 with fixed queues (see module docstring)."""

    package = "cups"

    def __init__(self, port: int = 18631):
        self.port = pick_port(port)
        self.root = None
        self.proc = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def available() -> bool:
        return os.access(CUPSD, os.X_OK) and os.path.exists(LPADMIN)

    def _lpadmin(self, *args: str) -> None:
        cmd = [LPADMIN, "-h", f"127.0.0.1:{self.port}", *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")

    def start(self) -> "CupsApp":
        self.root = tempfile.mkdtemp(prefix="groundlite-cups-")
        os.chmod(self.root, 0o755)   # cupsd's CGIs run as user lp and read the config through it
        for d in ("etc/ppd", "etc/ssl", "spool/tmp", "cache", "state", "log"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        for f in ("raw.convs", "raw.types", "snmp.conf"):
            if os.path.exists(f"/etc/cups/{f}"):
                shutil.copy(f"/etc/cups/{f}", os.path.join(self.root, "etc", f))
        conf = os.path.join(self.root, "etc", "cupsd.conf")
        files_conf = os.path.join(self.root, "etc", "cups-files.conf")
        with open(conf, "w") as fh:
            fh.write(_CUPSD_CONF.format(port=self.port))
        with open(files_conf, "w") as fh:
            fh.write(_CUPS_FILES_CONF.format(root=self.root))
        env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", TZ="UTC")
        self._log = open(os.path.join(self.root, "log", "stdout"), "w")
        self.proc = subprocess.Popen(
            [CUPSD, "-f", "-c", conf, "-s", files_conf],
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )
        try:
            wait_http(self.base + "/", timeout=20)
            for name, model, desc, loc in CUPS_PRINTERS:
                self._lpadmin("-p", name, "-E", "-v", "file:///dev/null", "-m", model,
                              "-D", desc, "-L", loc)
            cname, members = CUPS_CLASS
            for m in members:
                self._lpadmin("-p", m, "-c", cname)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            self.proc = None
            self._log.close()
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
