"""A test OIDC provider: signing keys, token minting (good and forged), and a JWKS endpoint
served over real HTTP on 127.0.0.1 from a thread."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://idp.example.test/realms/exams"
AUDIENCE = "smartpapers-api"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwk(kid: str, key: PrivateKey) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        jwk["alg"] = "RS256"
    else:
        jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
        jwk["alg"] = "ES256"
    return {**jwk, "kid": kid, "use": "sig"}


@dataclass
class Issuer:
    """Signing keys by kid; ``published`` are the kids the JWKS endpoint serves."""

    keys: dict[str, PrivateKey] = field(default_factory=dict)
    published: set[str] = field(default_factory=set)
    issuer: str = ISSUER
    audience: str = AUDIENCE

    @classmethod
    def create(cls) -> Issuer:
        self = cls()
        self.add_key("rsa-1", rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self.add_key("ec-1", ec.generate_private_key(ec.SECP256R1()))
        return self

    def add_key(self, kid: str, key: PrivateKey, *, publish: bool = True) -> None:
        self.keys[kid] = key
        if publish:
            self.published.add(kid)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [_jwk(kid, self.keys[kid]) for kid in sorted(self.published)]}

    def public_pem(self, kid: str = "rsa-1") -> bytes:
        return (
            self.keys[kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def claims(
        self, sub: str | None = "student-1", *, ttl: int = 300, **extra: Any
    ) -> dict[str, Any]:
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
        }
        if sub is not None:
            base["sub"] = sub
        base.update(extra)
        return {k: v for k, v in base.items() if v is not None}

    def token(
        self,
        sub: str | None = "student-1",
        *,
        kid: str | None = "rsa-1",
        alg: str | None = None,
        key: PrivateKey | None = None,
        ttl: int = 300,
        **extra: Any,
    ) -> str:
        signing_key = key if key is not None else self.keys[kid or "rsa-1"]
        if alg is None:
            alg = "RS256" if isinstance(signing_key, rsa.RSAPrivateKey) else "ES256"
        headers = {"kid": kid} if kid is not None else {}
        return jwt.encode(
            self.claims(sub, ttl=ttl, **extra), signing_key, algorithm=alg, headers=headers
        )

    def staff_token(self, sub: str = "teacher-1", institute: str | None = None) -> str:
        return self.token(sub, roles=["staff"], institute=institute)

    def unsigned_token(self, sub: str = "student-1", *, alg: str = "none") -> str:
        """``alg: none`` with an empty signature."""
        header = b64url(json.dumps({"alg": alg, "typ": "JWT", "kid": "rsa-1"}).encode())
        payload = b64url(json.dumps(self.claims(sub)).encode())
        return f"{header}.{payload}."

    def hs256_with_public_key(self, sub: str = "student-1", kid: str = "rsa-1") -> str:
        """The classic key-confusion forgery: HMAC-SHA256 keyed with the public PEM."""
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        payload = b64url(json.dumps(self.claims(sub)).encode())
        signing_input = f"{header}.{payload}".encode()
        sig = hmac.new(self.public_pem(kid), signing_input, hashlib.sha256).digest()
        return f"{header}.{payload}.{b64url(sig)}"


class JwksServer:
    """Serves ``issuer.jwks()`` at ``/jwks.json``; counts fetches; ``fail`` answers 503."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer
        self.fetches = 0
        self.fail = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                if server.fail or self.path != "/jwks.json":
                    self.send_response(503 if server.fail else 404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps(server.issuer.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/jwks.json"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@contextmanager
def jwks_server(issuer: Issuer) -> Iterator[JwksServer]:
    with JwksServer(issuer) as server:
        yield server


def jwt_settings(server: JwksServer, **over: Any) -> dict[str, Any]:
    """Settings overrides for auth mode jwt against this server."""
    return {
        "auth_mode": "jwt",
        "jwt_jwks_url": server.url,
        "jwt_issuer": server.issuer.issuer,
        "jwt_audience": server.issuer.audience,
        **over,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
