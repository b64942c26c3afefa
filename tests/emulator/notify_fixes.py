"""SQS, SNS and SES in moto 5.2, made to behave like AWS where notifications depend on it, plus the dev outbox.

Each function patches moto in place and is called once by moto_launcher.py
before the server starts. DEVELOPERS.md lists every gap and its fix.
"""

import email
import json
import threading
from datetime import datetime, timezone
from typing import Any

from moto.awslambda.models import LambdaBackend
from moto.core.common_models import CloudFormationModel
from moto.moto_api._internal import urls as moto_api_urls
from moto.moto_api._internal.models import MotoAPIBackend
from moto.sesv2.responses import SESV2Response
from moto.sns.models import SNSBackend, sns_backends
from moto.sqs.models import sqs_backends


def keep_queue_messages_for_pollers() -> None:
    """Leave a queue with a Lambda event source mapping to its pollers.

    moto 5.2 attaches an SQS event source mapping (the stack's
    NotifyQueueMapping) to the queue and, on every SendMessage, receives the
    queue's messages itself to invoke the function it cannot run: each send
    raises every waiting message's receive count (so the redrive policy moves
    messages to the dead-letter queue after a few sends, not a few failures)
    and hides them for the visibility timeout. On AWS, Lambda's pollers are
    the only receivers; `obctl dev` is that poller here. The mapping is still
    created and listed; it is only not attached to the queue.
    """
    original = LambdaBackend.create_event_source_mapping

    def create_event_source_mapping(self, spec):  # type: ignore[no-untyped-def]
        esm = original(self, spec)
        for queue in sqs_backends[self.account_id][self.region_name].queues.values():
            if queue.queue_arn == spec.get("EventSourceArn"):
                queue.lambda_event_source_mappings.pop(esm.function_arn, None)
        return esm

    LambdaBackend.create_event_source_mapping = create_event_source_mapping


class SnsSubscription(CloudFormationModel):
    """`AWS::SNS::Subscription`, which moto's CloudFormation skips.

    Without it, the stack's SES events topic delivers nowhere in the emulator.
    Created, updated (kept) and deleted through the SNS backend, as AWS does.
    """

    # moto files every model under the service its module path names.
    __module__ = "moto.sns.launcher_fixes"

    def __init__(self, arn: str):
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> "SnsSubscription":
        props = cloudformation_json["Properties"]
        backend: SNSBackend = sns_backends[account_id][region_name]
        subscription = backend.subscribe(props["TopicArn"], props["Endpoint"], props["Protocol"])
        for name in ("RawMessageDelivery", "FilterPolicy", "RedrivePolicy"):
            if name in props:
                value = props[name]
                text = json.dumps(value) if isinstance(value, dict) else str(value).lower()
                backend.set_subscription_attributes(subscription.arn, name, text)
        return cls(subscription.arn)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> "SnsSubscription":
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> None:
        sns_backends[account_id][region_name].unsubscribe(resource_name)


def answer_sesv2_get_account() -> None:
    """Answer SES v2 `GetAccount`, which moto 5.2 does not implement.

    The emulator stands for an account out of the SES sandbox with sending
    enabled (what `obctl deploy` checks); the sandbox case is tested with
    replayed AWS answers.
    """

    def get_account(self):  # type: ignore[no-untyped-def]
        return json.dumps(
            {
                "DedicatedIpAutoWarmupEnabled": False,
                "EnforcementStatus": "HEALTHY",
                "ProductionAccessEnabled": True,
                "SendingEnabled": True,
                "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 0.0},
            }
        )

    SESV2Response.get_account = get_account
    # moto's `/v2/.*` catch-all does not reach the werkzeug map: route the path itself.
    from moto.sesv2 import urls as sesv2_urls

    sesv2_urls.url_paths["{0}/v2/email/account$"] = sesv2_urls.response.dispatch


def verified_identities_may_send() -> None:
    """Report a verified SES identity as verified for sending.

    moto verifies every identity the moment it is created (`VerificationStatus:
    SUCCESS`) but leaves `VerifiedForSendingStatus` false, which on AWS is true
    for exactly such an identity and is what `obctl deploy` checks.
    """
    from moto.ses.models import EmailIdentity

    original = EmailIdentity.__init__

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        self.verified_for_sending_status = self.verification_status == "SUCCESS"

    EmailIdentity.__init__ = init


# Every message the emulator accepted for delivery, oldest first: the dev outbox.
_OUTBOX: list[dict[str, Any]] = []
_OUTBOX_LOCK = threading.Lock()


def _record(message: dict[str, Any]) -> None:
    with _OUTBOX_LOCK:
        message["seq"] = len(_OUTBOX) + 1
        message["sentAt"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        _OUTBOX.append(message)


def _mime_parts(raw: str) -> tuple[str | None, str | None, str | None]:
    parsed = email.message_from_string(raw)
    text = html = None
    for part in parsed.walk():
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html"):
            payload = part.get_payload(decode=True) or b""
            value = payload.decode(part.get_content_charset() or "utf-8", "replace")
            if kind == "text/plain":
                text = value
            else:
                html = value
    return parsed.get("Subject"), text, html


def keep_an_outbox() -> None:
    """Keep every e-mail (SES v2) and SMS (SNS) the emulator accepts, in full.

    moto keeps sent messages in its backends, but SES v2 keeps only the HTML
    or the text body of a message and nothing reads them over HTTP. This
    records each accepted message (recipients, sender, subject, both bodies,
    tags, the provider's message id) and serves them oldest first at
    `GET /moto-api/outbox?after=<seq>` as `{"messages": [...]}`, each with a
    `seq`; `POST /moto-api/reset` empties it. `obctl dev` serves it as
    `/_dev/outbox`.
    """
    send_email = SESV2Response.send_email

    def recording_send_email(self):  # type: ignore[no-untyped-def]
        answer = send_email(self)  # raises (and records nothing) when SES would refuse
        params = json.loads(self.body)
        destination = params.get("Destination", {})
        to = [
            *destination.get("ToAddresses", []),
            *destination.get("CcAddresses", []),
            *destination.get("BccAddresses", []),
        ]
        content = params.get("Content", {})
        if "Simple" in content:
            simple = content["Simple"]
            body = simple.get("Body", {})
            subject = simple.get("Subject", {}).get("Data")
            text = body.get("Text", {}).get("Data")
            html = body.get("Html", {}).get("Data")
        else:
            import base64

            raw = base64.b64decode(content.get("Raw", {}).get("Data", "")).decode("utf-8", "replace")
            subject, text, html = _mime_parts(raw)
        _record(
            {
                "channel": "email",
                "messageId": json.loads(answer)["MessageId"],
                "to": to,
                "from": params.get("FromEmailAddress"),
                "replyTo": params.get("ReplyToAddresses", []),
                "subject": subject,
                "text": text,
                "html": html,
                "configurationSet": params.get("ConfigurationSetName"),
                "tags": {t["Name"]: t["Value"] for t in params.get("EmailTags", [])},
            }
        )
        return answer

    SESV2Response.send_email = recording_send_email

    publish = SNSBackend.publish

    def recording_publish(self, message, arn, phone_number=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        message_id = publish(self, message, arn, phone_number, *args, **kwargs)
        if phone_number:
            _record(
                {
                    "channel": "sms",
                    "messageId": message_id,
                    "to": [phone_number],
                    "from": None,
                    "replyTo": [],
                    "subject": None,
                    "text": message,
                    "html": None,
                    "configurationSet": None,
                    "tags": {},
                }
            )
        return message_id

    SNSBackend.publish = recording_publish

    def outbox(request, full_url, headers):  # type: ignore[no-untyped-def]
        try:
            after = int(request.args.get("after", "0"))
        except ValueError:
            after = 0
        with _OUTBOX_LOCK:
            messages = [m for m in _OUTBOX if m["seq"] > after]
        return 200, {"Content-Type": "application/json"}, json.dumps({"messages": messages})

    moto_api_urls.url_paths["{0}/moto-api/outbox$"] = outbox

    reset = MotoAPIBackend.reset

    def reset_with_outbox(self):  # type: ignore[no-untyped-def]
        reset(self)
        with _OUTBOX_LOCK:
            _OUTBOX.clear()

    MotoAPIBackend.reset = reset_with_outbox
