"""The job RQ workers run: worker.py's ID photo with a session loaded once per process."""

from rembg import new_session

from worker import id_photo as make

_session = new_session("u2netp")


def id_photo(data: bytes) -> bytes:
    return make(_session, data)
