"""Text from an uploaded résumé: PDF (pypdf), DOCX or plain text.

The type is decided by the file's content, not its name, and every failure
becomes a message the candidate can act on.

A small PDF or DOCX can take minutes of CPU and gigabytes to read (a content
stream shared by every page, a zip bomb), so both are read in a child process
with CPU-time and memory limits (interviews.sandbox), and the readers stop
once they have the MAX_CHARS that are kept. Plain text is read here: it costs
what its size costs.
"""

import io
import logging
import zipfile
import zlib
from xml.etree import ElementTree

from django.conf import settings
from django.core.exceptions import ValidationError

from interviews import sandbox

log = logging.getLogger(__name__)

MAX_CHARS = 20_000
PDF_MAX_PAGES = 20
# pypdf's budget of tokens (operators and operands) per content stream; a
# dense page of text has tens of thousands.
PDF_MAX_STREAM_TOKENS = 300_000
# A .docx is a zip of XML parts; its text is in word/document.xml. Read at
# most this much of it, counted as inflated, whatever the zip declares.
DOCX_MAX_XML_BYTES = 2 * 1024 * 1024
SANDBOX_MEMORY_BYTES = 256 * 1024 * 1024

PDF_TOO_COMPLEX = "This PDF is too large or complex to read. Paste the text instead."
PDF_ENCRYPTED = "This PDF is password-protected. Remove the password or paste the text instead."
PDF_DAMAGED = "This PDF could not be read; it may be damaged. Try another file or paste the text."
PDF_UNREADABLE = "This PDF could not be read. Try another file or paste the text."
DOCX_TOO_LARGE = "This Word document is too large once unpacked. Paste the text instead."
DOCX_TOO_COMPLEX = "This Word document is too large or complex to read. Paste the text instead."
NOT_DOCX = "This file could not be read as a Word document (.docx)."

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# Word writes a text box twice: for new readers and, under Fallback, for old ones.
_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"


def extract_text(upload):
    if upload.size > settings.RESUME_MAX_BYTES:
        raise ValidationError(f"The file is too large: the limit is {settings.RESUME_MAX_BYTES // (1024 * 1024)} MB.")
    data = upload.read()
    if not data:
        raise ValidationError("The file is empty.")
    if data.startswith(b"%PDF-") or data.startswith(b"PK\x03\x04"):
        text = _read_in_child(data)
    else:
        text = _plain_text(data)
    # A PDF's text can hold lone surrogates, which no database column accepts.
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    text = "\n".join(line.rstrip() for line in text.replace("\x00", "").splitlines()).strip()
    if not text:
        raise ValidationError("No text could be found in this file. If it is a scanned PDF, paste the text instead.")
    return text[:MAX_CHARS]


def _read_in_child(data):
    is_pdf = data.startswith(b"%PDF-")
    try:
        return sandbox.run(
            "interviews.resume:read_document",
            data,
            cpu_seconds=settings.RESUME_PARSE_SECONDS,
            memory_bytes=SANDBOX_MEMORY_BYTES,
        )
    except sandbox.Refused as exc:
        raise ValidationError(str(exc)) from None
    except sandbox.Overrun as exc:
        log.warning("résumé upload refused: %s", exc)
        raise ValidationError(PDF_TOO_COMPLEX if is_pdf else DOCX_TOO_COMPLEX) from None
    except sandbox.Failed:
        raise ValidationError(PDF_UNREADABLE if is_pdf else NOT_DOCX) from None


def read_document(data):
    """The text of a PDF or DOCX, at most about MAX_CHARS of it. Runs in the
    sandbox's child process; raises sandbox.Refused with the candidate's message."""
    text = _pdf_text(data) if data.startswith(b"%PDF-") else _docx_text(data)
    return text[: MAX_CHARS * 2]  # a little spare for the blank lines dropped later


def _pdf_text(data):
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError, PdfReadError

    try:
        with apply_configuration(stream_parsing_work_maximum_count=PDF_MAX_STREAM_TOKENS):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise sandbox.Refused(PDF_ENCRYPTED)
            parts, length = [], 0
            for page in reader.pages[:PDF_MAX_PAGES]:
                part = page.extract_text() or ""
                parts.append(part)
                length += len(part)
                if length >= MAX_CHARS:
                    break
            return "\n".join(parts)
    except (sandbox.Refused, MemoryError):
        raise
    except LimitReachedError:
        raise sandbox.Refused(PDF_TOO_COMPLEX) from None
    except (PdfReadError, ValueError, KeyError, TypeError, OSError):
        raise sandbox.Refused(PDF_DAMAGED) from None
    except Exception:
        raise sandbox.Refused(PDF_UNREADABLE) from None


def _docx_text(data):
    """The text of word/document.xml, paragraph by paragraph, read with a
    streaming parser (python-docx would build the whole tree of every part)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        info = archive.getinfo("word/document.xml")
    except (zipfile.BadZipFile, KeyError, ValueError):
        raise sandbox.Refused(NOT_DOCX) from None
    if info.file_size > DOCX_MAX_XML_BYTES:
        raise sandbox.Refused(DOCX_TOO_LARGE)
    parser = ElementTree.XMLPullParser(events=("start", "end"))
    pieces, length, inflated, fallback_depth = [], 0, 0, 0
    try:
        with archive.open(info) as member:
            while length < MAX_CHARS and (chunk := member.read(64 * 1024)):
                inflated += len(chunk)
                if inflated > DOCX_MAX_XML_BYTES:  # the zip understated the size
                    raise sandbox.Refused(DOCX_TOO_LARGE)
                parser.feed(chunk)
                for event, element in parser.read_events():
                    if element.tag == _FALLBACK:
                        fallback_depth += 1 if event == "start" else -1
                    elif event == "end" and not fallback_depth:
                        piece = _docx_piece(element)
                        pieces.append(piece)
                        length += len(piece)
    except (zipfile.BadZipFile, ElementTree.ParseError, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError):
        raise sandbox.Refused(NOT_DOCX) from None
    return "".join(pieces)


def _docx_piece(element):
    tag = element.tag
    if tag == _W + "t":
        return element.text or ""
    if tag == _W + "tab":
        return "\t"
    if tag in (_W + "br", _W + "cr"):
        return "\n"
    if tag == _W + "p":
        element.clear()  # its text is taken; keep the tree small
        return "\n"
    return ""


def _plain_text(data):
    if b"\x00" in data[:4096]:
        raise ValidationError("Unsupported file type: upload a PDF, a Word document (.docx) or a text file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            raise ValidationError("This text file is not in a readable encoding; save it as UTF-8.") from None
