"""Run one moto (local AWS emulator) server on 127.0.0.1 and report its port.

Prints exactly one line, `READY <port>`, on stdout once the server accepts
connections. With `--port 0` (the default) the OS picks a free port, so
concurrent launchers never race for one.

Lifetime:
  --until-stdin-closes  exit when stdin reaches EOF. The Rust test harness holds
                        the write end of our stdin; the kernel closes it when the
                        test process exits for any reason (panic, SIGKILL), so the
                        server can never outlive its tests.
  (default)             serve until SIGTERM/SIGINT, e.g. for `make dev`.
"""

import argparse
import json
import logging
import os
import signal
import sys
import threading

# Before moto is imported (its settings read the environment once): no blanket
# `Access-Control-Allow-Origin: *` on every answer; buckets answer CORS by their
# own configuration, as S3 does (see s3_cors.py).
os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "true"

from moto.cloudformation import models as cloudformation_models
from moto.s3 import models as s3_models
from moto.server import ThreadedMotoServer

import cloudwatch_fixes
import dynamodb_fixes
import notify_fixes
import s3_cors


def record_change_set_results() -> None:
    """Make an executed change set update the stack the way AWS does.

    moto 5.2's execute_change_set applies the resources but leaves the stack's
    outputs and parameters as they were before (a stack created through a change
    set has no outputs at all), while CreateStack/UpdateStack refresh both. obctl
    deploys only through change sets and reads tables from the stack's outputs, so
    this fixes the emulator to match AWS instead of bending obctl to the emulator.
    """
    original = cloudformation_models.CloudFormationBackend.execute_change_set

    def execute_change_set(self, change_set_name, stack_name=None):  # type: ignore[no-untyped-def]
        original(self, change_set_name, stack_name)
        change_set = self.change_sets.get(change_set_name) or next(
            (cs for cs in self.change_sets.values() if cs.change_set_name == change_set_name),
            None,
        )
        if change_set is None:
            return
        stack = self.stacks[change_set.stack_id]
        stack.parameters = change_set.parameters
        stack._parse_template()
        stack.output_map = stack._create_output_map()

    cloudformation_models.CloudFormationBackend.execute_change_set = execute_change_set


# The one condition moto cannot evaluate that our templates use (FilesBucketPolicy).
INSECURE_TRANSPORT = {"Bool": {"aws:SecureTransport": "false"}}


def evaluate_secure_transport_denies() -> None:
    """Evaluate `aws:SecureTransport` bucket-policy denies the way AWS would.

    moto 5.2 does not evaluate policy Conditions: `IAMPolicyStatement` treats a
    condition it has no value for as failed and answers DENIED, so the files
    bucket's `DenyInsecureTransport` statement (Deny s3:* when
    `aws:SecureTransport` is false) refuses every object request in the
    emulator. The emulator stands in for S3's HTTPS endpoint, where that
    condition is false, so such a statement never matches. This drops exactly
    those statements before moto evaluates a bucket policy; every other
    statement, with or without conditions, is evaluated unchanged.
    """
    from moto.iam.access_control import IAMPolicy, PermissionResult

    def get_permission(self, action, resource):  # type: ignore[no-untyped-def]
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy.decode())
        statements = document.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        document["Statement"] = [
            st
            for st in statements
            if not (st.get("Effect") == "Deny" and st.get("Condition") == INSECURE_TRANSPORT)
        ]
        return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)

    s3_models.FakeBucket.get_permission = get_permission


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument(
        "--until-stdin-closes", action="store_true", help="exit at EOF on stdin"
    )
    parser.add_argument("--pidfile", help="write our process id here")
    parser.add_argument("--quiet", action="store_true", help="no request log")
    args = parser.parse_args()

    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    record_change_set_results()
    evaluate_secure_transport_denies()
    dynamodb_fixes.keep_stream_records_for_readers()
    dynamodb_fixes.atomic_item_writes()
    dynamodb_fixes.transactions_touch_only_their_items()
    notify_fixes.keep_queue_messages_for_pollers()
    notify_fixes.answer_sesv2_get_account()
    notify_fixes.verified_identities_may_send()
    notify_fixes.keep_an_outbox()
    cloudwatch_fixes.answer_rpc_v2_cbor()
    cloudwatch_fixes.percentile_statistics()
    cloudwatch_fixes.order_independent_dimensions()
    s3_cors.apply_cloudformation_cors()
    s3_cors.evaluate_like_s3()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()  # returns once the socket is bound and listening
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    print(f"READY {server.get_host_and_port()[1]}", flush=True)

    try:
        if args.until_stdin_closes:
            # A daemon thread blocks on stdin; the main thread stays free for signals.
            def wait_for_eof() -> None:
                while sys.stdin.buffer.read(4096):
                    pass
                stop.set()

            threading.Thread(target=wait_for_eof, daemon=True).start()
        stop.wait()
    finally:
        server.stop()
        if args.pidfile:
            try:
                os.remove(args.pidfile)
            except FileNotFoundError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
