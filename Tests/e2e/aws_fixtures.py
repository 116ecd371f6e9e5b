"""Real parts for the tests of the proxy in front of an authenticating, TLS-speaking server.

- AuthMoto: a moto_server that verifies SigV4 signatures (INITIAL_NO_AUTH_ACTION_COUNT), with IAM users whose
  keys it accepts and a role they may assume (temporary credentials moto also accepts). moto is our stand-in for
  real DynamoDB's authentication: a wrong signature, an unknown key, a body changed after signing are refused.
- Certificates made with openssl: a CA, and server certificates for chosen names.
- Stunnel: a TLS terminator (stunnel4 from Debian) in front of a plain-HTTP server.

Everything binds 127.0.0.1 and stops itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid

import boto3
from botocore.config import Config

from e2e_support import LOOPBACK, REGION, free_port, moto_server_cmd, stop_process, wait_for_port

ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30)


class AuthMoto:
    """moto_server verifying every request's SigV4 signature against the IAM users it holds.

    The first `3 * len(users) + 2` calls are unauthenticated: they create each user (with an access key and an
    allow-all inline policy) and one role the users may assume. Every later call must be signed with a key moto
    issued."""

    def __init__(self, repo_root: str, log_dir: str, name: str, users: tuple[str, ...] = ("proxy",)):
        self.name = name
        self.log_path = os.path.join(log_dir, f"{name}.log")
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(3 * len(users) + 2))
        for attempt in range(3):  # a freshly probed port can be taken by someone else: retry
            self.port = free_port()
            self.url = f"http://{LOOPBACK}:{self.port}"
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(moto_server_cmd(self.port, repo_root), stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                wait_for_port(self.port, self.proc, 30, f"moto_server {name}")
                break
            except RuntimeError:
                self.stop()
                if attempt == 2:
                    raise
        try:
            iam = boto3.client("iam", endpoint_url=self.url, region_name=REGION, config=NO_RETRY,
                               aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
            self.keys: dict[str, tuple[str, str]] = {}
            for user in users:
                iam.create_user(UserName=user)
                key = iam.create_access_key(UserName=user)["AccessKey"]
                iam.put_user_policy(UserName=user, PolicyName="all", PolicyDocument=ALLOW_ALL)
                self.keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
            role = iam.create_role(RoleName="dynamo-cache", AssumeRolePolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                         "Action": "sts:AssumeRole"}]}))
            self.role_arn = role["Role"]["Arn"]
            iam.put_role_policy(RoleName="dynamo-cache", PolicyName="all", PolicyDocument=ALLOW_ALL)
        except BaseException:
            self.stop()
            raise

    def client(self, service: str = "dynamodb", user: str = "proxy", endpoint: str | None = None, **kw):
        key, secret = self.keys[user]
        return boto3.client(service, endpoint_url=endpoint or self.url, region_name=REGION, config=NO_RETRY,
                            aws_access_key_id=key, aws_secret_access_key=secret, **kw)

    def assume_role(self, user: str = "proxy", seconds: int = 900) -> dict:
        """Temporary credentials of the role (AccessKeyId, SecretAccessKey, SessionToken, Expiration), which
        moto accepts as real STS credentials."""
        sts = self.client("sts", user)
        return sts.assume_role(RoleArn=self.role_arn, RoleSessionName=f"s-{uuid.uuid4().hex[:8]}",
                               DurationSeconds=seconds)["Credentials"]

    def stop(self) -> None:
        try:
            stop_process(self.proc)
        finally:
            self._log.close()


def openssl(*args: str, cwd: str) -> None:
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {r.stderr.decode(errors='replace')}")


class CertificateAuthority:
    """A CA made with openssl in `directory`, and server certificates it signs."""

    def __init__(self, directory: str, name: str = "dynamo-cache test CA"):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.key = os.path.join(directory, "ca.key")
        self.cert = os.path.join(directory, "ca.pem")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key, "-out", self.cert,
                "-days", "2", "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)

    def issue(self, name: str, dns: tuple[str, ...] = ("localhost",), ips: tuple[str, ...] = ("127.0.0.1",),
              days: int = 2) -> tuple[str, str]:
        """(certificate chain PEM, key PEM) for a server known by `dns` names and `ips`."""
        key = os.path.join(self.dir, f"{name}.key")
        csr = os.path.join(self.dir, f"{name}.csr")
        cert = os.path.join(self.dir, f"{name}.pem")
        ext = os.path.join(self.dir, f"{name}.ext")
        san = ",".join([f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips])
        with open(ext, "w") as f:
            f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}",
                cwd=self.dir)
        openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial",
                "-out", cert, "-days", str(days), "-extfile", ext, cwd=self.dir)
        return cert, key


def stunnel_binary() -> str | None:
    return shutil.which("stunnel4") or shutil.which("stunnel")


class Stunnel:
    """stunnel terminating TLS on a free loopback port and forwarding the plain bytes to `target_port`."""

    def __init__(self, log_dir: str, name: str, target_port: int, cert: str, key: str):
        binary = stunnel_binary()
        if binary is None:
            raise RuntimeError("stunnel4 is not installed (apt-get install stunnel4; ops/install-deps.sh does)")
        self.port = free_port()
        self.log_path = os.path.join(log_dir, f"{name}.log")
        conf = os.path.join(log_dir, f"{name}.conf")
        with open(conf, "w") as f:
            f.write(f"foreground = yes\npid =\noutput = {self.log_path}\ndebug = notice\n"
                    f"[tls]\naccept = {LOOPBACK}:{self.port}\nconnect = {LOOPBACK}:{target_port}\n"
                    f"cert = {cert}\nkey = {key}\n")
        self.proc = subprocess.Popen([binary, conf], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_port(self.port, self.proc, 15, f"stunnel {name}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        stop_process(self.proc, timeout=5)


def proxy_environment(credentials: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """The environment of a proxy process: none of the test session's AWS_* settings, only `credentials`
    (AWS_ACCESS_KEY_ID, ...) and `extra`, and no instance metadata service to fall back on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DYNAMO_CACHE_"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_CONFIG_FILE"] = os.devnull
    env.update(credentials or {})
    env.update(extra)
    return env


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
