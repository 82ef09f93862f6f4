"""Small files that cost a lot to read, for the resource-isolation tests.

    docx_bomb()        -> a few KB of .docx whose document.xml inflates to 5 MB
    pdf_shared_stream_bomb() -> a few KB of PDF: 20 pages share one 2 MB content stream
    lying_webm(seconds, claimed) -> WebM/Opus that decodes to `seconds` while its
                                    header says `claimed`
"""

import functools
import io
import struct
import zipfile
import zlib

import av
import numpy as np

DOCX_PARAGRAPH = b"<w:p><w:r><w:t>a</w:t></w:r></w:p>"


@functools.lru_cache(maxsize=4)
def docx_bomb(unpacked_bytes=5 * 1024 * 1024):
    """A real .docx (python-docx's blank document) whose document.xml is
    `unpacked_bytes` of one-letter paragraphs."""
    import docx

    blank = io.BytesIO()
    docx.Document().save(blank)
    body = DOCX_PARAGRAPH * (unpacked_bytes // len(DOCX_PARAGRAPH))
    xml = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        + body
        + b"</w:body></w:document>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(blank) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for info in source.infolist():
            z.writestr(info.filename, xml if info.filename == "word/document.xml" else source.read(info))
    return out.getvalue()


def pdf_from_objects(objects):
    """A PDF file of these object bodies (numbered from 1; object 1 is the catalog), with its xref table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def pdf_shared_stream_bomb(stream_bytes=2 * 1024 * 1024, pages=20):
    """Every page draws the same content stream: `q Q` (save and restore the
    graphics state, drawing nothing) over and over, then one word."""
    raw = b"q Q\n" * (stream_bytes // 4) + b"BT /F1 12 Tf 72 720 Td (Hello) Tj ET"
    stream = zlib.compress(raw, 9)
    content, font = 3 + pages, 4 + pages
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode()]
    page = f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content} 0 R /Resources << /Font << /F1 {font} 0 R >> >> >>"
    objects += [page.encode()] * pages
    objects.append(b"<< /Length " + str(len(stream)).encode() + b" /Filter /FlateDecode >>\nstream\n" + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    return pdf_from_objects(objects)


@functools.lru_cache(maxsize=4)
def lying_webm(seconds=60, claimed=1.0):
    """Silent Opus at 6 kbps in WebM, with the Segment's Duration element
    rewritten to `claimed` seconds."""
    rate = 16_000
    out = io.BytesIO()
    with av.open(out, "w", format="webm") as container:
        stream = container.add_stream("libopus", rate=rate)
        stream.layout = "mono"
        stream.bit_rate = 6000
        for second in range(0, seconds, 10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, rate * 10), dtype=np.int16), format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = second * rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    data = bytearray(out.getvalue())
    # Matroska Duration: element id 0x4489, size 8 (0x88), a float64 in
    # milliseconds (the default TimecodeScale).
    at = data.index(b"\x44\x89\x88")
    data[at + 3 : at + 11] = struct.pack(">d", claimed * 1000)
    return bytes(data)
