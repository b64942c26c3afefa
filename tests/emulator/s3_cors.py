"""Bucket CORS in the emulator as S3 applies it, so a browser's presigned uploads are checked for real.

moto 5.2 differs from S3 in three ways that matter to a browser:

1. Its server wraps every service in flask-cors, which answers any preflight and
   adds `Access-Control-Allow-Origin: *` to every response: a bucket without
   CORS, or with the wrong origins, looks open. The launcher turns that off
   (`MOTO_DISABLE_GLOBAL_CORS`, before moto is imported).
2. CloudFormation ignores a bucket's `CorsConfiguration`, so a deployed files
   bucket would have no CORS at all. `apply_cloudformation_cors` applies it on
   create and update, as CloudFormation does.
3. Its preflight answers with every rule at once and checks only the origin,
   and a preflight for an object that exists is refused by the object's ACL
   (a browser re-uploading a file would fail). `evaluate_like_s3` answers every
   preflight from the bucket's rules alone: the first rule matching the origin,
   the requested method and every requested header, else 403; the actual
   GET/PUT gets CORS headers only from a rule matching origin and method.
"""

import re

from moto.s3 import models as s3_models
from moto.s3 import responses as s3_responses
from moto.s3.exceptions import AccessForbidden, MissingBucket, S3ClientError

NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
    "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
    "are not whitelisted by the resource's CORS spec."
)


def _rules_from_template(properties: dict) -> list:
    """CloudFormation's `CorsConfiguration.CorsRules` in the shape of PutBucketCors."""
    rules = []
    for rule in properties.get("CorsConfiguration", {}).get("CorsRules", []):
        converted = {
            "AllowedMethod": rule["AllowedMethods"],
            "AllowedOrigin": rule["AllowedOrigins"],
            "AllowedHeader": rule.get("AllowedHeaders", []),
            "ExposeHeader": rule.get("ExposedHeaders", []),
        }
        if "MaxAge" in rule:
            converted["MaxAgeSeconds"] = str(rule["MaxAge"])
        if "Id" in rule:
            converted["ID"] = rule["Id"]
        rules.append(converted)
    return rules


def apply_cloudformation_cors() -> None:
    bucket_class = s3_models.FakeBucket
    original_create = bucket_class.create_from_cloudformation_json.__func__
    original_update = bucket_class.update_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[no-untyped-def]
        bucket = original_create(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        bucket.set_cors(_rules_from_template(cloudformation_json.get("Properties", {})))
        return bucket

    def update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):  # type: ignore[no-untyped-def]
        bucket = original_update(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )
        bucket.set_cors(_rules_from_template(cloudformation_json.get("Properties", {})))
        return bucket

    bucket_class.create_from_cloudformation_json = classmethod(create)
    bucket_class.update_from_cloudformation_json = classmethod(update)


def _matches(pattern: str, value: str) -> bool:
    """S3's wildcard match: `*` stands for any run of characters; case-insensitive for headers."""
    regex = "^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$"
    return re.match(regex, value, re.IGNORECASE) is not None


def _first_rule(bucket, origin: str, method: str, headers: list):  # type: ignore[no-untyped-def]
    for rule in bucket.cors:
        if not any(_matches(allowed, origin) for allowed in rule.allowed_origins or []):
            continue
        if method not in (rule.allowed_methods or []):
            continue
        allowed_headers = rule.allowed_headers or []
        if all(any(_matches(a, h) for a in allowed_headers) for h in headers):
            return rule
    return None


def _allow_origin(rule, origin: str) -> str:  # type: ignore[no-untyped-def]
    return "*" if rule.allowed_origins == ["*"] else origin


def evaluate_like_s3() -> None:
    response_class = s3_responses.S3Response

    def response_options(self, headers, bucket_name):  # type: ignore[no-untyped-def]
        self._authenticate_and_authorize_s3_action(bucket_name=bucket_name)
        try:
            bucket = self.backend.head_bucket(bucket_name)
        except MissingBucket:
            return 403, {}, ""
        origin = headers.get("Origin")
        method = headers.get("Access-Control-Request-Method")
        if not origin or not method:
            return 400, {}, "Insufficient information. Origin request header needed."
        if not bucket.cors:
            raise AccessForbidden("CORSResponse: CORS is not enabled for this bucket.")
        requested = [
            h.strip()
            for h in headers.get("Access-Control-Request-Headers", "").split(",")
            if h.strip()
        ]
        rule = _first_rule(bucket, origin, method, requested)
        if rule is None:
            raise AccessForbidden(NOT_ALLOWED)
        answer = {
            "Access-Control-Allow-Origin": _allow_origin(rule, origin),
            "Access-Control-Allow-Methods": ", ".join(rule.allowed_methods),
            "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        }
        if requested:
            answer["Access-Control-Allow-Headers"] = ", ".join(requested)
        if rule.exposed_headers:
            answer["Access-Control-Expose-Headers"] = ", ".join(rule.exposed_headers)
        if rule.max_age_seconds is not None:
            answer["Access-Control-Max-Age"] = str(rule.max_age_seconds)
        return 200, answer, ""

    def cors_headers_other(self):  # type: ignore[no-untyped-def]
        origin = self.headers.get("Origin")
        if not origin:
            return {}
        try:
            bucket = self.backend.get_bucket(self.bucket_name)
        except S3ClientError:
            return {}
        rule = _first_rule(bucket, origin, self.method, [])
        if rule is None:
            return {}
        answer = {
            "Access-Control-Allow-Origin": _allow_origin(rule, origin),
            "Access-Control-Allow-Methods": ", ".join(rule.allowed_methods),
            "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        }
        if rule.exposed_headers:
            answer["Access-Control-Expose-Headers"] = ", ".join(rule.exposed_headers)
        return answer

    original_key_response = response_class._key_response

    def key_response(self, request, full_url):  # type: ignore[no-untyped-def]
        # S3 answers a preflight before any authorization: it carries no credentials.
        if request.method == "OPTIONS":
            return response_options(
                self, request.headers, self.parse_bucket_name_from_url(request, full_url)
            )
        return original_key_response(self, request, full_url)

    response_class._key_response = key_response
    response_class._response_options = response_options
    response_class._get_cors_headers_other = cors_headers_other
