"""moto server, the DynamoDB API the tests run against: `moto_server -H 127.0.0.1 -p PORT`,
but serving one request at a time.

moto's threaded server applies concurrent UpdateItem calls to one item without a lock, so
concurrent ADDs lose updates; DynamoDB applies writes to an item one at a time. Serving
requests serially restores DynamoDB's semantics (the store contract's concurrency test checks it).
"""

import sys

import werkzeug.serving

_run_simple = werkzeug.serving.run_simple


def _serial_run_simple(*args, **kwargs):
    kwargs["threaded"] = False
    return _run_simple(*args, **kwargs)


werkzeug.serving.run_simple = _serial_run_simple

from moto.server import main  # noqa: E402  (must import after the patch above)

if __name__ == "__main__":
    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
