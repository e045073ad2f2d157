"""The Python ID-photo worker we replace, reproduced from its description for benchmarking:
rembg `new_session("u2netp")` + `remove`, the cut-out scaled to 80% of a 295x413 canvas and
centred on a blue background with Pillow, saved as JPEG quality 95.

usage: worker.py IMAGE [PHOTOS]  -> prints "photos_per_s mean_ms" for PHOTOS sequential photos
(one worker process, as one RQ worker runs them)."""

import io
import sys
import time

from PIL import Image
from rembg import new_session, remove

SIZE = (295, 413)
BLUE = (67, 142, 219)


def id_photo(session, data: bytes) -> bytes:
    cut = remove(Image.open(io.BytesIO(data)), session=session)
    box = cut.getbbox() or (0, 0, cut.width, cut.height)
    cut = cut.crop(box)
    scale = min(SIZE[0] * 0.8 / cut.width, SIZE[1] * 0.8 / cut.height)
    cut = cut.resize((max(1, round(cut.width * scale)), max(1, round(cut.height * scale))), Image.LANCZOS)
    canvas = Image.new("RGB", SIZE, BLUE)
    canvas.paste(cut, ((SIZE[0] - cut.width) // 2, (SIZE[1] - cut.height) // 2), cut)
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=95)
    return out.getvalue()


def main() -> None:
    data = open(sys.argv[1], "rb").read()
    photos = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    session = new_session("u2netp")
    id_photo(session, data)  # warm-up
    started = time.perf_counter()
    for _ in range(photos):
        id_photo(session, data)
    elapsed = time.perf_counter() - started
    print(f"{photos / elapsed:.3f} {1000 * elapsed / photos:.1f}")


if __name__ == "__main__":
    main()
