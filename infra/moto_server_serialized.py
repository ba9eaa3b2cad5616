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

import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_DYNAMODB = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialized_call_action(self):
    with _DYNAMODB:
        return _call_action(self)


DynamoHandler.call_action = _serialized_call_action

if __name__ == "__main__":
    main()
