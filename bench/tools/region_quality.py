"""Matte quality of the region the ID-photo function segments, against u2netp on the whole photo
at its configured 320x320 (rembg's way), inside what the crop reads. Talks to a running server with
the `idphoto` and `segment` functions (bench/region-quality.sh starts one)."""
import io
import json
import sys
import urllib.request

import numpy as np
from PIL import Image

BASE = sys.argv[1]
PORTRAITS = sys.argv[2]
DETAIL_PER_FACE = 95  # components/idphoto/src/region.rs


def post(path, data, accept=None):
    req = urllib.request.Request(BASE + path, data=data, method="POST")
    if accept:
        req.add_header("Accept", accept)
    return urllib.request.urlopen(req).read()


def matte(img, side=None):
    buf = io.BytesIO()
    img.save(buf, "PNG")
    path = "/segment" + (f"?side={side}" if side else "")
    return np.asarray(Image.open(io.BytesIO(post(path, buf.getvalue()))).convert("L"), np.float32)


def compare(region_img, box, side, ref, crop, size):
    w, h = size
    full = np.zeros((h, w), np.float32)
    full[box[1]:box[3], box[0]:box[2]] = matte(region_img, side)
    a = full[crop[1]:crop[3], crop[0]:crop[2]]
    b = ref[crop[1]:crop[3], crop[0]:crop[2]]
    inter, union = ((a >= 128) & (b >= 128)).sum(), ((a >= 128) | (b >= 128)).sum()
    return inter / max(union, 1), np.abs(a - b).mean()


print("photo | region (tight) | IoU | mean |d| | region (generous, 256) | IoU | mean |d|")
for name in ["fr_obama.jpg", "fr_biden.jpg", "skimage_astronaut.png"]:
    raw = open(f"{PORTRAITS}/{name}", "rb").read()
    img = Image.open(io.BytesIO(raw)).convert("RGB")
    w, h = img.size
    face = json.loads(post("/segment/faces", raw))["faces"][0]
    fx, fy, fw, fh = face["box"]
    made = json.loads(post("/idphoto?size=cn-1inch", raw, "application/json"))
    scale, out_face = made["geometry"]["scale"], made["geometry"]["face"]
    x0, y0 = fx - out_face[0] / scale, fy - out_face[1] / scale
    crop = [max(0, int(x0)), max(0, int(y0)), min(w, int(x0 + 295 / scale + 1)), min(h, int(y0 + 413 / scale + 1))]
    ref = matte(img)
    s = made["segmented"]
    tight = [s["x"], s["y"], s["x"] + s["width"], s["y"] + s["height"]]
    longer = max(s["width"], s["height"])
    side = max(64, min(320, longer, round(longer * DETAIL_PER_FACE / fh)))
    t_iou, t_d = compare(img.crop(tight), tight, side, ref, crop, (w, h))
    eyes_y = (face["landmarks"][0][1] + face["landmarks"][1][1]) / 2
    cx = fx + fw / 2
    broad = [max(0, round(cx - 1.3 * fh)), max(0, round(eyes_y - 1.5 * fh)),
             min(w, round(cx + 1.3 * fh)), min(h, round(eyes_y + 2.2 * fh))]
    b_iou, b_d = compare(img.crop(broad), broad, 256, ref, crop, (w, h))
    print(f"{name} | {s['width']}x{s['height']} at side {side} | {t_iou:.4f} | {t_d:.2f} | "
          f"{broad[2]-broad[0]}x{broad[3]-broad[1]} | {b_iou:.4f} | {b_d:.2f}")
