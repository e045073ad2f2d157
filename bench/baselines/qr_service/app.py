"""The Python QR service Atelier replaces, reproduced as described: Flask, python-qrcode with
ERROR_CORRECT_H, box_size=10, border=4, PNG; decode saves the upload and calls OpenCV's
QRCodeDetector().detectAndDecode. Served by gunicorn with 4 sync workers (bench/qr.sh)."""
import io
import os
import tempfile

import cv2
import qrcode
from flask import Flask, jsonify, request, send_file

app = Flask(__name__)


@app.get("/qr")
def generate():
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_H, box_size=10, border=4)
    qr.add_data(request.args.get("text", ""))
    qr.make(fit=True)
    buf = io.BytesIO()
    qr.make_image().save(buf, format="PNG")
    buf.seek(0)
    return send_file(buf, mimetype="image/png")


@app.post("/qr/decode")
def decode():
    fd, path = tempfile.mkstemp(suffix=".png")
    with os.fdopen(fd, "wb") as f:
        f.write(request.get_data())
    try:
        text, points, _ = cv2.QRCodeDetector().detectAndDecode(cv2.imread(path))
    finally:
        os.unlink(path)
    return jsonify({"codes": [{"text": text}] if text else []})
