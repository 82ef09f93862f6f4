"""Text from an uploaded résumé: PDF (pypdf), DOCX (python-docx) or plain text.

The type is decided by the file's content, not its name, and every failure
becomes a message the candidate can act on.
"""

import io
import zipfile

from django.conf import settings
from django.core.exceptions import ValidationError

MAX_CHARS = 20_000
# A .docx is a zip: refuse one that would unpack to more than this (a zip bomb).
DOCX_MAX_UNPACKED_BYTES = 50 * 1024 * 1024


def extract_text(upload):
    if upload.size > settings.RESUME_MAX_BYTES:
        raise ValidationError(f"The file is too large: the limit is {settings.RESUME_MAX_BYTES // (1024 * 1024)} MB.")
    data = upload.read()
    if not data:
        raise ValidationError("The file is empty.")
    if data.startswith(b"%PDF-"):
        text = _pdf_text(data)
    elif data.startswith(b"PK\x03\x04"):
        text = _docx_text(data)
    else:
        text = _plain_text(data)
    text = "\n".join(line.rstrip() for line in text.replace("\x00", "").splitlines()).strip()
    if not text:
        raise ValidationError("No text could be found in this file. If it is a scanned PDF, paste the text instead.")
    return text[:MAX_CHARS]


def _pdf_text(data):
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ValidationError("This PDF is password-protected. Remove the password or paste the text instead.")
        return "\n".join((page.extract_text() or "") for page in reader.pages[:20])
    except ValidationError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError):
        raise ValidationError("This PDF could not be read; it may be damaged. Try another file or paste the text.") from None
    except Exception:
        raise ValidationError("This PDF could not be read. Try another file or paste the text.") from None


def _docx_text(data):
    import docx

    try:
        # Declared sizes bound what zipfile will inflate, so checking them is enough.
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        raise ValidationError("This file could not be read as a Word document (.docx).") from None
    if unpacked > DOCX_MAX_UNPACKED_BYTES:
        raise ValidationError("This Word document is too large once unpacked. Paste the text instead.")
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError):
        raise ValidationError("This file could not be read as a Word document (.docx).") from None
    except Exception:
        raise ValidationError("This file could not be read as a Word document (.docx).") from None
    return "\n".join(p.text for p in document.paragraphs)


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
