"""Certificates: a test CA, its leaves, and the hash Chromium trusts them by."""

from __future__ import annotations

import base64
import hashlib
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.hosts import (
    API_HOST,
    CERTIFICATE_NAMES,
    EVIL_HOST,
    FRONTEND_HOST,
)
from devstack.processes import (
    run,
)


@dataclass(frozen=True)
class Certificates:
    ca: Path  # what clients trust (REQUESTS_CA_BUNDLE, verify=)
    certificate: Path  # the leaf, for every name of the stack and 127.0.0.1
    key: Path


def make_certificates(directory):
    """A test CA and one leaf certificate it signed, valid for two days."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = directory / "ca.key", directory / "ca.pem"
    key, csr = directory / "server.key", directory / "server.csr"
    leaf, extensions = directory / "server.pem", directory / "server.ext"
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    ca_extensions = [
        *("-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
    ]
    run(
        [
            *("openssl", "req", "-x509", *new_key),
            *("-keyout", ca_key, "-out", ca, "-days", "2"),
            *("-subj", "/CN=ventures stack test CA", *ca_extensions),
        ]
    )
    run(
        [
            *("openssl", "req", "-new", *new_key),
            *("-keyout", key, "-out", csr, "-subj", f"/CN={API_HOST}"),
        ]
    )
    names = ",".join([*(f"DNS:{n}" for n in CERTIFICATE_NAMES), "IP:127.0.0.1"])
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName={names}\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
    )
    serial = str(secrets.randbits(63))
    run(
        [
            *("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key),
            *("-set_serial", serial, "-days", "2", "-out", leaf),
            *("-extfile", extensions),
        ]
    )
    for private in (ca_key, key):
        private.chmod(0o600)
    return Certificates(ca=ca, certificate=leaf, key=key)


def spki_sha256(certificate):
    """Base64 of the SHA-256 of a certificate's SubjectPublicKeyInfo (DER)."""
    public_key = run(
        ["openssl", "x509", "-in", certificate, "-noout", "-pubkey"]
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"],
        input=public_key.encode(),
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def sites_certificate(certificates, directory):
    """
    A leaf for the frontend's and the foreign site's names, signed by the
    stack's test CA with the stack's own key: one SubjectPublicKeyInfo, so
    one hash in Chromium's list trusts every server of the test.
    """
    tls = certificates.ca.parent
    csr, leaf = directory / "sites.csr", directory / "sites.pem"
    extensions = directory / "sites.ext"
    run(
        [
            *("openssl", "req", "-new", "-key", certificates.key),
            *("-out", csr, "-subj", f"/CN={FRONTEND_HOST}"),
        ]
    )
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName=DNS:{FRONTEND_HOST},DNS:{EVIL_HOST}\n"
    )
    run(
        [
            *("openssl", "x509", "-req", "-in", csr, "-CA", certificates.ca),
            *("-CAkey", tls / "ca.key", "-set_serial", str(secrets.randbits(63))),
            *("-days", "2", "-out", leaf, "-extfile", extensions),
        ]
    )
    return leaf
