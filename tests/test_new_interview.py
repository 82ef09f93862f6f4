import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from interviews.models import Interview
from tests.hostile_files import pdf_from_objects

URL = reverse("new_interview")


def form(**overrides):
    data = {
        "job_role": "Data Analyst",
        "company": "Globex",
        "job_description": "SQL, Tableau, stakeholder management",
        "resume": "",
        "style": "formal",
        "difficulty": "medium",
        "length_mode": "questions",
        "question_count": "4",
        "duration_minutes": "",
        "mode": "practice",
    }
    data.update(overrides)
    return data


def pdf_with_text(text):
    """A minimal one-page PDF whose content stream draws `text`."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return pdf_from_objects(objects)


def test_it_sends_anonymous_visitors_to_log_in(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_it_prefills_the_form_from_the_profile(owner_client, owner):
    from accounts.models import Profile

    Profile.objects.create(user=owner, default_resume="Ten years of SQL.", preferred_style="casual")
    response = owner_client.get(URL)
    assert response.status_code == 200
    assert "Ten years of SQL." in response.content.decode()
    assert response.context["form"].initial["style"] == "casual"


def test_it_creates_the_interview_and_opens_the_room(owner_client, owner):
    response = owner_client.post(URL, form())
    interview = Interview.objects.get(owner=owner)
    assert response.status_code == 302
    assert response["Location"] == reverse("interview_room", args=[interview.id])
    assert interview.job_role == "Data Analyst"
    assert interview.question_count == 4
    assert interview.status == "active"


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"job_role": "   "}, "job_role", "required"),
        ({"job_role": "x" * 121}, "job_role", "at most 120"),
        ({"job_description": "x" * 20_001}, "job_description", "at most 20000"),
        ({"question_count": "2"}, "question_count", "greater than or equal to 3"),
        ({"question_count": "21"}, "question_count", "less than or equal to 20"),
        ({"length_mode": "minutes", "duration_minutes": "4"}, "duration_minutes", "greater than or equal to 5"),
        ({"length_mode": "minutes", "duration_minutes": "46"}, "duration_minutes", "less than or equal to 45"),
        ({"length_mode": "minutes", "duration_minutes": ""}, "duration_minutes", "between 5 and 45"),
        ({"style": "sarcastic"}, "style", "valid choice"),
        ({"difficulty": "impossible"}, "difficulty", "valid choice"),
    ],
)
def test_it_rejects_invalid_input_with_a_clear_message_and_saves_nothing(owner_client, overrides, field, message):
    response = owner_client.post(URL, form(**overrides))
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors.get(field, []))
    assert message in errors
    assert not Interview.objects.exists()


def test_it_shows_a_job_description_with_markup_as_text(owner_client, owner):
    owner_client.post(URL, form(job_description="<script>alert('x')</script> SQL"))
    interview = Interview.objects.get(owner=owner)
    page = owner_client.get(reverse("interview_room", args=[interview.id])).content.decode()
    assert "<script>alert" not in page


def test_it_reads_a_text_resume_upload(owner_client, owner):
    upload = SimpleUploadedFile("cv.txt", "Led the SQL reporting team at Initech.".encode(), content_type="text/plain")
    owner_client.post(URL, {**form(), "resume_file": upload})
    assert Interview.objects.get(owner=owner).resume == "Led the SQL reporting team at Initech."


def test_it_reads_a_pdf_resume_upload(owner_client, owner):
    upload = SimpleUploadedFile("cv.pdf", pdf_with_text("Built dashboards in Tableau"), content_type="application/pdf")
    owner_client.post(URL, {**form(), "resume_file": upload})
    assert "Built dashboards in Tableau" in Interview.objects.get(owner=owner).resume


def test_it_reads_a_docx_resume_upload(owner_client, owner):
    import docx

    document = docx.Document()
    document.add_paragraph("Cut reporting time by 40% with dbt.")
    buffer = io.BytesIO()
    document.save(buffer)
    upload = SimpleUploadedFile("cv.docx", buffer.getvalue())
    owner_client.post(URL, {**form(), "resume_file": upload})
    assert Interview.objects.get(owner=owner).resume == "Cut reporting time by 40% with dbt."


def encrypted_pdf():
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("cv.pdf", b"%PDF-1.4\n this is not really a pdf", "could not be read"),
        ("cv.pdf", encrypted_pdf(), "password-protected"),
        ("cv.docx", b"PK\x03\x04 broken zip", "Word document"),
        ("cv.txt", b"\x00\x01\x02binary", "Unsupported file type"),
        ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "Unsupported file type"),
        ("cv.txt", b"   \n  ", "No text could be found"),
        ("big.txt", b"a" * (5 * 1024 * 1024 + 1), "too large"),
    ],
)
def test_it_refuses_bad_resume_files_with_a_clear_message(owner_client, name, content, message):
    response = owner_client.post(URL, {**form(), "resume_file": SimpleUploadedFile(name, content)})
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["resume_file"])
    assert not Interview.objects.exists()
