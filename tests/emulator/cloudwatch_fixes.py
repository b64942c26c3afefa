"""CloudWatch in moto 5.2, made to answer the AWS SDK for Rust the way AWS does.

Each function patches moto in place and is called once by moto_launcher.py
before the server starts. DEVELOPERS.md lists every gap and its fix.
"""

import datetime
import gzip
import io
import json
import math
import re

import botocore.session
from botocore.parsers import RpcV2CBORParser
from botocore.serialize import RpcV2CBORSerializer
from moto.cloudwatch import models as cloudwatch_models
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

CBOR_PATH = re.compile(r"^/service/(?P<service>[A-Za-z0-9]+)/operation/(?P<operation>[A-Za-z0-9]+)$")


def _plain_json(value):
    """A decoded CBOR value as JSON-ready data (timestamps as epoch seconds)."""
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(value).decode()
    return value


def answer_rpc_v2_cbor() -> None:
    """Serve CloudWatch's Smithy RPC v2 CBOR protocol, which the Rust SDK uses.

    moto 5.2 understands CloudWatch's JSON and query protocols only, while
    aws-sdk-cloudwatch sends `POST /service/GraniteServiceVersion20100801/
    operation/<Op>` with a CBOR body (`smithy-protocol: rpc-v2-cbor`) and reads
    CBOR back. Such a request is translated to the equivalent JSON-protocol
    request (`X-Amz-Target: GraniteServiceVersion20100801.<Op>`), moto answers
    it, and the answer is encoded as CBOR along the operation's output shape
    (timestamps as tag 1, doubles as doubles), errors keeping their `__type`.
    botocore's own CBOR codec (pinned with moto) reads and writes the bytes.
    """
    model = botocore.session.get_session().get_service_model("cloudwatch")
    target_prefix = model.metadata["targetPrefix"]
    parser = RpcV2CBORParser()
    serializer = RpcV2CBORSerializer()
    original = DomainDispatcherApplication.__call__

    def encode_plain_map(items: dict) -> bytes:
        body = bytearray(serializer._get_initial_byte(serializer.MAP_MAJOR_TYPE, 31))
        for key, value in items.items():
            serializer._serialize_type_string(body, str(key), None, None)
            serializer._serialize_type_string(body, str(value), None, None)
        body.append(0xFF)
        return bytes(body)

    def call(self, environ, start_response):  # type: ignore[no-untyped-def]
        match = CBOR_PATH.match(environ.get("PATH_INFO", ""))
        if environ.get("HTTP_SMITHY_PROTOCOL") != "rpc-v2-cbor" or not match or match["service"] != target_prefix:
            return original(self, environ, start_response)
        operation = model.operation_model(match["operation"])
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        if environ.get("HTTP_CONTENT_ENCODING") == "gzip":
            raw = gzip.decompress(raw)
        params = parser.parse_data_item(io.BufferedReader(io.BytesIO(raw))) if raw else {}
        body = json.dumps(_plain_json(params)).encode()
        environ = dict(environ)
        environ.pop("HTTP_SMITHY_PROTOCOL", None)
        environ.pop("HTTP_CONTENT_ENCODING", None)
        environ.update(
            {
                "PATH_INFO": "/",
                "CONTENT_TYPE": "application/x-amz-json-1.0",
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_X_AMZ_TARGET": f"{target_prefix}.{operation.name}",
                "wsgi.input": io.BytesIO(body),
            }
        )
        captured = {}

        def capture(status, headers, exc_info=None):  # type: ignore[no-untyped-def]
            captured["status"] = status
            captured["headers"] = headers
            return lambda _data: None

        answer = b"".join(original(self, environ, capture))
        status = captured["status"]
        result = json.loads(answer) if answer.strip() else {}
        if int(status.split()[0]) >= 400:
            out = encode_plain_map({k: v for k, v in result.items() if isinstance(v, str)})
        elif operation.output_shape is None:
            out = b""
        else:
            buffer = bytearray()
            serializer._serialize_data_item(buffer, result, operation.output_shape)
            out = bytes(buffer)
        headers = [
            (k, v)
            for k, v in captured["headers"]
            if k.lower() not in ("content-type", "content-length")
        ]
        headers += [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("Content-Length", str(len(out))),
        ]
        start_response(status, headers)
        return [out]

    DomainDispatcherApplication.__call__ = call


PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?)$")


def percentile_statistics() -> None:
    """Answer percentile statistics (`p50`, `p99`, `p99.9`) from the raw values.

    moto 5.2 computes Sum, Average, SampleCount, Minimum and Maximum only and
    returns no value for `pNN`, which CloudWatch computes for metrics published
    as raw values (as EMF publishes them). This computes the nearest-rank
    percentile of the raw values in each period; periods holding only
    pre-aggregated StatisticSets have none, as on AWS.
    """
    original = cloudwatch_models.Statistics.get_statistics_for_type

    def get_statistics_for_type(self, stat):  # type: ignore[no-untyped-def]
        match = PERCENTILE.match(stat)
        if not match:
            return original(self, stat)
        values = sorted(self.metric_single_values_list)
        if not values:
            return None
        rank = max(1, math.ceil(float(match.group(1)) / 100 * len(values)))
        return values[rank - 1]

    cloudwatch_models.Statistics.get_statistics_for_type = get_statistics_for_type


def order_independent_dimensions() -> None:
    """Match a metric's dimensions whatever order they were sent in.

    moto 5.2 compares dimension lists after sorting them, but its
    `Dimension.__lt__` compares a name with a value, so the same dimensions
    sent in another order may not match; CloudWatch treats them as a set.
    """

    def less_than(self, other):  # type: ignore[no-untyped-def]
        return (self.name or "", self.value or "") < (other.name or "", other.value or "")

    cloudwatch_models.Dimension.__lt__ = less_than
