"""A wasi:http function written in Python, built into a component by componentize-py (from PyPI).

GET /any/path?name=you -> "Hello from Python, you!"; POST -> the body's length and a checksum.
It shows that Atelier runs components from other languages' toolchains unchanged."""

import hashlib
from urllib.parse import parse_qs, urlsplit

from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method_Post,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)


def read_body(request: IncomingRequest) -> bytes:
    chunks = []
    incoming = request.consume()
    with incoming.stream() as stream:
        while True:
            try:
                chunk = stream.blocking_read(65536)
            except Exception:  # the stream's end arrives as a `closed` error
                break
            chunks.append(chunk)
    return b"".join(chunks)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        target = urlsplit(request.path_with_query() or "/")
        if isinstance(request.method(), Method_Post):
            body = read_body(request)
            text = f"{len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()}\n"
        else:
            name = parse_qs(target.query).get("name", ["world"])[0]
            text = f"Hello from Python, {name}!\n"
        response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain; charset=utf-8")]))
        response.set_status_code(200)
        body = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        with body.write() as stream:
            stream.blocking_write_and_flush(text.encode())
        OutgoingBody.finish(body, None)
