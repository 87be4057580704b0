"""KMS post-rotation validation (runbook 3): every CMK rotates at least yearly and data encrypted before
a rotation still decrypts.

Per key: enabled and customer-managed, rotation on with a period <= 365 d, the rotation history, a fresh
encrypt/decrypt round trip, and the decryption of a canary ciphertext made on the first run and kept in
the config bucket (``config/<env>/kms-canary/<key-id>.json``, SSE-KMS with the config key). The canary's
plaintext is a fixed marker, not a secret; only its SHA-256 is stored beside the ciphertext.
The monthly Lambda (``backupctl.handlers.kms_validate``) and ``backupctl kms validate`` run this code;
only the standard library, boto3 and backupctl are imported.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    PartialCredentialsError,
)

from backupctl.findings import Finding
from backupctl.live.aws import S3, Kms, as_utc, error_code

# Runbook 3: CMKs rotate annually. Mirrors components.settings.KEY_ROTATION_PERIOD_DAYS (a test keeps
# them equal); kept here so the Lambda package needs no Pulumi code.
MAX_ROTATION_PERIOD_DAYS = 365
DEFAULT_ROTATION_PERIOD_DAYS = 365  # what KMS uses when a key is rotated without an explicit period
NEVER_ROTATED_GRACE = timedelta(days=7)  # a key older than its period plus this should have rotated
CANARY_CONTEXT = {"maestro:purpose": "kms-canary"}
ROUND_TRIP_CONTEXT = {"maestro:purpose": "kms-validate"}


_NO_CREDENTIALS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)


def rotation_period(status: Mapping[str, Any]) -> tuple[int, str]:
    """The rotation period in days, and a note when KMS did not report one (moto drops it)."""
    if "RotationPeriodInDays" in status:
        return int(status["RotationPeriodInDays"]), ""
    return DEFAULT_ROTATION_PERIOD_DAYS, " (period not reported; KMS default)"


def canary_key(environment: str, key_id: str) -> str:
    return f"config/{environment}/kms-canary/{key_id}.json"


class KeyValidation:
    """Validates the stack's CMKs; ``run`` returns findings, never raises for a failing key."""

    def __init__(
        self,
        kms: Kms,
        s3: S3,
        *,
        environment: str,
        bucket: str,
        config_key_arn: str | None,
        now: datetime | None = None,
    ) -> None:
        self.kms, self.s3 = kms, s3
        self.environment, self.bucket, self.config_key_arn = environment, bucket, config_key_arn
        self.now = now or datetime.now(UTC)

    def run(self, key_arns: Mapping[str, str]) -> list[Finding]:
        """Each key is judged on its own: an error on one (access denied, throttled past retries, a
        malformed canary) is that key's FAIL, never the end of the run, so the monthly job always gets
        to publish what failed (issue 10 item 4). Missing credentials are no key's fault: they end the run
        with the one credentials error, not a FAIL per key."""
        findings: list[Finding] = []
        for purpose, arn in sorted(key_arns.items()):
            try:
                findings.extend(self.key(purpose, str(arn)))
            except _NO_CREDENTIALS:
                raise
            except Exception as exc:  # any failure of one key is a finding about it
                code = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
                findings.append(
                    Finding.judge(
                        False,
                        "3",
                        "kms-validate",
                        str(arn),
                        f"{purpose} key: validation stopped with {code}: {exc}",
                    )
                )
        return findings

    def key(self, purpose: str, arn: str) -> list[Finding]:
        def finding(check: str, ok: bool, message: str) -> Finding:
            return Finding.judge(ok, "3", check, arn, f"{purpose} key: {message}")

        meta = self.kms.describe(arn)
        if meta is None:
            return [finding("kms-key-usable", False, f"{arn} was not found")]
        state, manager = meta.get("KeyState"), meta.get("KeyManager", "CUSTOMER")
        findings = [
            finding(
                "kms-key-usable",
                state == "Enabled" and manager == "CUSTOMER",
                f"state {state}, managed by {manager}; the runbook needs an enabled customer-managed key",
            )
        ]
        if state != "Enabled":
            return findings
        status = self.kms.rotation(arn)
        period, note = rotation_period(status)
        enabled = bool(status.get("KeyRotationEnabled"))
        findings.append(
            finding(
                "kms-key-rotation",
                enabled and period <= MAX_ROTATION_PERIOD_DAYS,
                f"rotation {'on' if enabled else 'off'}, every {period} d{note}; runbook 3 requires on and "
                f"<= {MAX_ROTATION_PERIOD_DAYS} d",
            )
        )
        rotations = self.kms.rotations(arn)
        dates = sorted(d for r in rotations if (d := as_utc(r.get("RotationDate"))) is not None)
        created = as_utc(meta.get("CreationDate"))
        overdue = (
            not dates
            and created is not None
            and self.now - created > timedelta(days=period) + NEVER_ROTATED_GRACE
        )
        findings.append(
            finding(
                "kms-rotation-history",
                not overdue,
                f"{len(dates)} rotation(s)"
                + (f", last on {dates[-1]:%Y-%m-%d}" if dates else ", none yet")
                + (
                    f"; the key is {(self.now - created).days} d old and never rotated"
                    if overdue and created
                    else ""
                ),
            )
        )
        findings.append(self._round_trip(arn, finding))
        findings.append(self._canary(arn, str(meta.get("KeyId", arn.rsplit("/", 1)[-1])), dates, finding))
        return findings

    def _round_trip(self, arn: str, finding: Any) -> Finding:
        plaintext = os.urandom(32)
        try:
            blob = self.kms.encrypt(arn, plaintext, ROUND_TRIP_CONTEXT)
            ok = self.kms.decrypt(arn, blob, ROUND_TRIP_CONTEXT) == plaintext
        except ClientError as exc:
            return finding("kms-round-trip", False, f"encrypt/decrypt failed ({error_code(exc)})")
        return finding(
            "kms-round-trip", ok, "a fresh encrypt/decrypt round trip " + ("works" if ok else "differs")
        )

    def _canary(self, arn: str, key_id: str, rotations: list[datetime], finding: Any) -> Finding:
        where = canary_key(self.environment, key_id)
        stored = self.s3.get_json(self.bucket, where)
        if stored is None:
            marker = f"maestro-kms-canary:{key_id}:{self.now.isoformat()}".encode()
            blob = self.kms.encrypt(arn, marker, CANARY_CONTEXT)
            document = {
                "keyArn": arn,
                "createdAt": self.now.isoformat(),
                "ciphertext": base64.b64encode(blob).decode(),
                "plaintextSha256": hashlib.sha256(marker).hexdigest(),
            }
            self.s3.put_bytes(
                self.bucket, where, json.dumps(document).encode(), kms_key_id=self.config_key_arn
            )
            return finding(
                "kms-canary-decrypt",
                True,
                f"canary created at s3://{self.bucket}/{where}; later runs decrypt it to prove data "
                "encrypted before a rotation stays readable",
            )
        try:
            plain = self.kms.decrypt(arn, base64.b64decode(stored["ciphertext"]), CANARY_CONTEXT)
        except ClientError as exc:
            return finding(
                "kms-canary-decrypt",
                False,
                f"the canary made {stored.get('createdAt')} no longer decrypts "
                f"({error_code(exc)}): data encrypted before the rotation may be unreadable",
            )
        except (KeyError, ValueError, TypeError):
            return finding(
                "kms-canary-decrypt", False, f"the canary at s3://{self.bucket}/{where} is malformed"
            )
        made = as_utc(stored.get("createdAt"))
        after = [d for d in rotations if made is not None and d > made]
        ok = hashlib.sha256(plain).hexdigest() == stored.get("plaintextSha256")
        return finding(
            "kms-canary-decrypt",
            ok,
            f"the canary made {stored.get('createdAt')} "
            + ("decrypts" if ok else "decrypts to different bytes")
            + (
                f" after {len(after)} rotation(s), the last on {after[-1]:%Y-%m-%d}"
                if after
                else " (no rotation since it was made)"
            ),
        )
