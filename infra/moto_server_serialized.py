"""moto_server with DynamoDB requests applied one at a time.

moto's server is threaded, and its DynamoDB backend takes no lock: two TransactWriteItems (or
conditional writes) arriving together can both pass their conditions before either applies, so
"exactly one of twenty pick-ups wins" would fail on the emulator for a reason DynamoDB does not
have (its transactions are serializable and its conditional writes atomic). This launcher wraps
moto's DynamoDB request handler in one lock, giving DynamoDB's documented semantics; SQS and
EventBridge stay concurrent (SQS long polls must not block the rest). Started by the local stack
exactly like `moto_server` (same arguments), through the `.venv/bin/moto-server-serialized`
wrapper the Makefile writes.
"""

import copy
import threading

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_DYNAMODB = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialized_call_action(self):
    with _DYNAMODB:
        return _call_action(self)


DynamoHandler.call_action = _serialized_call_action


def _transact_write_items(self, transact_items):
    """TransactWriteItems without moto's whole-table backup.

    moto deep-copies every table a transaction touches, to roll back on failure: each
    transaction costs time in proportion to the table's size, so a table of a few thousand
    items makes every transaction slow. Under the lock above nothing runs concurrently, so the
    transaction can be done the way DynamoDB defines it: check every condition against the
    state before the transaction, and write only if all hold. Only the items written are
    backed up, for the rare write that fails after the checks (an invalid update expression).
    """
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    ops = []
    seen = set()
    for item in transact_items:
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        table_name = op["TableName"]
        if op_type == "Put":
            table = self.get_table(table_name)
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        unique = (str(table_name), str(dict(sorted(key.items()))))
        if unique in seen:
            raise MultipleTransactionsException()
        seen.add(unique)
        ops.append((op_type, op, table_name, key))

    errors = []
    for op_type, op, table_name, key in ops:
        try:
            current = self.get_item(table_name, key)
            condition = op.get("ConditionExpression")
            if condition is not None:
                check = get_filter_expression(
                    condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                )
                if not check.expr(current):
                    old = None
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        old = current.to_json()["Attributes"]
                    errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
                    continue
            errors.append((None, None, None))
        except MockValidationException:
            raise
        except Exception as e:  # noqa: BLE001 - reported per item, as DynamoDB does
            errors.append((type(e).__name__, str(e), None))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)

    backups = []
    try:
        for op_type, op, table_name, key in ops:
            if op_type == "ConditionCheck":
                continue
            current = self.get_item(table_name, key)
            backups.append((table_name, key, copy.deepcopy(current)))
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(table_name, op["Item"], expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(table_name, key, expression_attribute_names=names, expression_attribute_values=values)
            else:
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
    except Exception:
        for table_name, key, before in reversed(backups):
            if before is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before.to_json()["Attributes"])
        raise


DynamoDBBackend.transact_write_items = _transact_write_items

if __name__ == "__main__":
    main()
