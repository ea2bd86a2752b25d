"""Gives the emulator's DynamoDB the isolation DynamoDB has.

moto applies a TransactWriteItems item by item, and when an item fails it
puts back copies of the tables taken when the transaction started. Served
on several threads, concurrent transactions therefore see each other's
writes half done and undo each other's committed writes, which DynamoDB
never does (it serialises them). Python loads this module at start-up
when its directory is on PYTHONPATH, as the emulator's launcher sets it:
every DynamoDB and DynamoDB Streams operation then runs under one lock,
whole. Should moto's internals move, nothing is patched and moto runs as
it is.
"""

import threading

_LOCK = threading.RLock()


def _serialised(method):
    def call(self, *args, **kwargs):
        with _LOCK:
            return method(self, *args, **kwargs)

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


def _patch(module_name, class_name, method_names):
    try:
        module = __import__(module_name, fromlist=[class_name])
        backend = getattr(module, class_name)
    except Exception:
        return
    for name in method_names:
        method = getattr(backend, name, None)
        if callable(method):
            setattr(backend, name, _serialised(method))


_patch(
    "moto.dynamodb.models",
    "DynamoDBBackend",
    (
        "put_item",
        "update_item",
        "delete_item",
        "get_item",
        "query",
        "scan",
        "batch_write_item",
        "batch_get_item",
        "transact_write_items",
        "transact_get_items",
    ),
)
_patch(
    "moto.dynamodbstreams.models",
    "DynamoDBStreamsBackend",
    ("describe_stream", "get_shard_iterator", "get_records"),
)
