"""A throwaway certificate authority and server certificate for 127.0.0.1.

client-go (Helm's SDK) sends a bearer token only over TLS, so the fake serves https.
Made with the ``openssl`` command (Debian's openssl package): EC P-256 keys, one day.
"""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testing.influx_servers import require_binary

_LEAF_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
"""


@dataclass(frozen=True)
class Certificates:
    ca: Path  # PEM: what clients trust
    cert: Path  # PEM: the server's certificate
    key: Path  # PEM: the server's private key

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def _openssl(*args: str) -> None:
    # missing openssl: the test skips (fails under CI=true), as for other Debian tools
    openssl = require_binary("openssl")
    subprocess.run([openssl, *args], check=True, capture_output=True, timeout=30)


def make_certificates(folder: Path) -> Certificates:
    """A CA and a server certificate signed by it, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.pem", folder / "ca-key.pem"
    cert, key, csr = folder / "server.pem", folder / "server-key.pem", folder / "server.csr"
    ext = folder / "server.ext"
    ext.write_text(_LEAF_EXT, encoding="utf-8")
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *curve, "-days", "1", "-subj", "/CN=fake-kube-ca",
             "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    _openssl("req", "-new", *curve, "-subj", "/CN=127.0.0.1", "-keyout", str(key),
             "-out", str(csr))  # fmt: skip
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    for secret in (ca_key, key):
        secret.chmod(0o600)
    return Certificates(ca, cert, key)
