"""DynamoDB in moto 5.2, made to behave like AWS where One Backend depends on it.

Each function patches moto in place and is called once by moto_launcher.py
before the server starts. DEVELOPERS.md lists every gap and its fix.
"""

import copy
import threading
import time
from itertools import islice

from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
)
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamRecord, StreamShard

# AWS keeps stream records for 24 hours.
STREAM_RETENTION_SECONDS = 24 * 3600

# One lock for every item write and transaction: DynamoDB applies a conditional
# write or a transaction atomically, while moto's threaded server would let two
# requests check the same condition before either writes.
_WRITES = threading.RLock()

# Stream records of the transaction this thread is applying: published only if
# it commits, so a cancelled transaction leaves no record (as on AWS).
_pending = threading.local()


def keep_stream_records_for_readers() -> None:
    """Make stream shards append-only for every reader, trimmed after 24 hours.

    When a table's stream has an event source mapping (the stack's
    RealtimeStreamMapping), moto 5.2 "delivers" every new record to the mapped
    function itself (it cannot run our Lambda) and then empties the shard, so
    GetRecords never sees a record. On AWS a stream keeps its records for 24
    hours for every reader; `obctl dev` is such a reader. Here a shard keeps
    its records until they are 24 hours old; sequence numbers stay those the
    records were given, so iterators stay valid while records are trimmed.
    """

    def publish(shard, record):  # type: ignore[no-untyped-def]
        if not hasattr(shard, "trimmed"):
            shard.trimmed = 0
            shard.added_at = []
        now = time.monotonic()
        while shard.added_at and now - shard.added_at[0] > STREAM_RETENTION_SECONDS:
            # A list pop(0) is O(n), but trimming happens once per old record.
            shard.items.pop(0)
            shard.added_at.pop(0)
            shard.trimmed += 1
        seq = shard.starting_sequence_number + shard.trimmed + len(shard.items)
        record.record["dynamodb"]["SequenceNumber"] = str(seq)
        shard.items.append(record)
        shard.added_at.append(now)

    def add(self, old, new):  # type: ignore[no-untyped-def]
        view = self.table.stream_specification["StreamViewType"]
        event_name = "INSERT" if old is None else ("REMOVE" if new is None else "MODIFY")
        # Images are serialised now, before a later write changes the item.
        record = StreamRecord(self.table, view, event_name, old, new, 0)
        pending = getattr(_pending, "records", None)
        if pending is not None:
            pending.append((self, record))
        else:
            publish(self, record)

    def get(self, start, quantity):  # type: ignore[no-untyped-def]
        # An iterator behind the trim horizon reads from the oldest record kept.
        index = max(0, start - self.starting_sequence_number - getattr(self, "trimmed", 0))
        return [r.to_json() for r in islice(self.items, index, index + quantity)]

    StreamShard.add = add
    StreamShard.get = get
    StreamShard.publish = publish


def atomic_item_writes() -> None:
    """Apply each conditional write under one lock, as DynamoDB applies it atomically."""
    for name in ("put_item", "update_item", "delete_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(self, *args, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            with _WRITES:
                return _original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)


def transactions_touch_only_their_items() -> None:
    """TransactWriteItems as AWS runs it: all conditions first, then the writes.

    moto 5.2 deep-copies every table a transaction names (every item and, with
    the stream kept, every stream record) before each TransactWriteItems and,
    on a cancellation, puts the copies in place of the tables. That makes each
    transaction cost as much as the tables are large, and it swaps a table's
    stream shard for a copy, so every shard iterator taken before reads a
    frozen shard (realtime in `obctl dev` stopped after any 409 or 412).

    Here every condition is checked before anything is written, so a
    cancelled transaction writes nothing and needs no rollback. Should a write
    fail after that (an invalid update expression, an item over 400 KB), only
    the items the transaction touched are put back. Its stream records are
    published when it commits, never when it is cancelled; tables and their
    stream shards stay the same objects throughout.
    """

    def transact_write_items(self, transact_items):  # type: ignore[no-untyped-def]
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        with _WRITES:
            planned = check_all(self, transact_items)
            _pending.records = []
            try:
                apply_all(self, planned)
            except BaseException:
                _pending.records = None
                raise
            records, _pending.records = _pending.records, None
            for shard, record in records:
                shard.publish(record)

    DynamoDBBackend.transact_write_items = transact_write_items


def check_all(backend, transact_items):  # type: ignore[no-untyped-def]
    """Every operation's key and condition, checked against the current items.

    Returns `(op_type, op, table, key)` per operation; raises the cancellation
    with one reason per operation when any condition fails.
    """
    seen = set()
    planned = []
    errors = []
    for item in transact_items:
        if len(item) > 1:
            raise MultipleTransactionsException()  # moto's message for it
        op_type, op = next(iter(item.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise MockValidationException("Unsupported transaction operation")
        table = backend.get_table(op["TableName"])
        if op_type == "Put":
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        identity = (table.name, str(sorted(key.items())))
        if identity in seen:
            raise MultipleTransactionsException()
        seen.add(identity)
        planned.append((op_type, op, table, key))

        error = (None, None, None)
        expression = op.get("ConditionExpression")
        if expression is not None:
            current = backend.get_item(op["TableName"], key)
            condition = get_filter_expression(
                expression,
                op.get("ExpressionAttributeNames"),
                op.get("ExpressionAttributeValues"),
            )
            if not condition.expr(current):
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                error = ("ConditionalCheckFailed", ConditionalCheckFailed().message, old)
        errors.append(error)
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    return planned


def apply_all(backend, planned):  # type: ignore[no-untyped-def]
    """Writes the planned operations; on a failure, puts back what was written."""
    before = []
    for index, (op_type, op, table, key) in enumerate(planned):
        if op_type == "ConditionCheck":
            continue
        hash_value, range_value = backend.get_keys_value(table, key)
        # update_item changes the item in place: keep a copy of this one item.
        before.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
        names = op.get("ExpressionAttributeNames")
        values = op.get("ExpressionAttributeValues")
        try:
            # Conditions were checked under the same lock; they hold.
            if op_type == "Put":
                backend.put_item(op["TableName"], op["Item"], expression_attribute_names=names,
                                 expression_attribute_values=values)
            elif op_type == "Delete":
                backend.delete_item(op["TableName"], key, expression_attribute_names=names,
                                    expression_attribute_values=values)
            else:
                backend.update_item(op["TableName"], key, update_expression=op["UpdateExpression"],
                                    expression_attribute_names=names,
                                    expression_attribute_values=values)
        except (MultipleTransactionsException, MockValidationException):
            restore(before)
            raise
        except Exception as err:  # noqa: BLE001 (reported as AWS reports it: a cancellation reason)
            restore(before)
            reasons = [(None, None, None)] * len(planned)
            reasons[index] = (type(err).__name__, str(getattr(err, "message", err)), None)
            raise TransactionCanceledException(reasons) from err


def restore(before):  # type: ignore[no-untyped-def]
    """Puts each touched item back as it was (its stream records are discarded)."""
    for table, hash_value, range_value, item in reversed(before):
        if range_value is not None:
            if item is None:
                table.items[hash_value].pop(range_value, None)
            else:
                table.items[hash_value][range_value] = item
        elif item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
