"""iam-role-s3-read-can-list: a function's role that reads S3 objects may also list their prefix, so a
missing object is 404, not 403 (runbook 3: the KMS canaries are missing on the first run).

"If you don't have the s3:ListBucket permission, Amazon S3 returns an HTTP status code 403 Forbidden
("access denied") error" for a key that does not exist
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). moto answers 404 either way, so
the rule is the check.
"""

from __future__ import annotations

import fnmatch

from maestro_policies._base import FUNCTION, as_list, get, of_type, stack_rule
from maestro_policies._iam import role_statements
from maestro_policies._wiring import role_of

S3_OBJECT = "arn:aws:s3:::"


def _lists(statements, bucket: str, prefix: str) -> bool:  # type: ignore[no-untyped-def]
    """An Allow s3:ListBucket on the bucket whose s3:prefix condition (if any) covers the prefix."""
    for s in statements:
        actions = [str(a).lower() for a in as_list(s.get("Action"))]
        if s.get("Effect") != "Allow" or not any(fnmatch.fnmatchcase("s3:listbucket", a) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(bucket, str(r)) for r in as_list(s.get("Resource"))):
            continue
        patterns = [p for ops in (s.get("Condition") or {}).values() for p in as_list(ops.get("s3:prefix"))]
        if not patterns or any(fnmatch.fnmatchcase(prefix + "x", str(p)) for p in patterns):
            return True
    return False


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    for function in of_type(resources, FUNCTION):
        role = role_of(resources, function, "role", get(function.props, "role"))
        if role is None:
            continue
        statements = role_statements(resources, role)
        for s in statements:
            actions = [str(a).lower() for a in as_list(s.get("Action"))]
            if s.get("Effect") != "Allow" or not any(fnmatch.fnmatchcase("s3:getobject", a) for a in actions):
                continue
            for resource in (str(r) for r in as_list(s.get("Resource"))):
                if not resource.startswith(S3_OBJECT) or "/" not in resource:
                    continue
                bucket, _, key = resource.partition("/")
                prefix = key.rstrip("*")
                if not _lists(statements, bucket, prefix):
                    report_violation(
                        f"role `{role.name}` of function `{function.name}` may s3:GetObject {resource} but "
                        f"not s3:ListBucket on {bucket} for prefix `{prefix}`: a missing object answers 403 "
                        "AccessDenied, not 404; allow ListBucket with an s3:prefix condition",
                        function.urn,
                    )


RULE = stack_rule(
    "iam-role-s3-read-can-list",
    "a function's role that reads S3 objects may list their prefix (missing is 404, not 403)",
    "3",
    (),
    (FUNCTION,),
    validate,
)
