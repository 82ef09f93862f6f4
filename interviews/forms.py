from django import forms
from django.core.exceptions import ValidationError

from interviews.models import Interview
from interviews.resume import MAX_CHARS as RESUME_MAX_CHARS
from interviews.resume import extract_text

POPULAR_ROLES = [
    "Software Engineer",
    "Data Scientist",
    "Product Manager",
    "Data Analyst",
    "UX Designer",
    "DevOps Engineer",
    "Project Manager",
    "Marketing Manager",
    "Sales Representative",
    "Customer Support Specialist",
]


class NewInterviewForm(forms.ModelForm):
    job_description = forms.CharField(
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 6, "maxlength": 20_000}),
        help_text="Paste the job ad: the questions and the report use its key skills.",
    )
    resume = forms.CharField(
        required=False,
        max_length=RESUME_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 5, "maxlength": RESUME_MAX_CHARS}),
        label="Résumé",
        help_text="Paste your résumé, or upload it below.",
    )
    resume_file = forms.FileField(
        required=False,
        label="…or upload a résumé",
        help_text="PDF, Word (.docx) or text, up to 5 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.docx,.txt,application/pdf,text/plain"}),
    )
    question_count = forms.IntegerField(min_value=3, max_value=20, initial=5, required=False)
    duration_minutes = forms.IntegerField(min_value=5, max_value=45, initial=15, required=False)

    class Meta:
        model = Interview
        fields = [
            "job_role",
            "company",
            "job_description",
            "resume",
            "interview_type",
            "style",
            "difficulty",
            "length_mode",
            "question_count",
            "duration_minutes",
            "mode",
        ]
        widgets = {
            "interview_type": forms.RadioSelect,
            "style": forms.RadioSelect,
            "difficulty": forms.RadioSelect,
            "length_mode": forms.RadioSelect,
            "mode": forms.RadioSelect,
        }
        labels = {"job_role": "Job role", "mode": "Feedback", "interview_type": "Interview type"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["job_role"].widget.attrs.update({"maxlength": 120, "list": "popular-roles", "autocomplete": "off"})
        self.fields["company"].widget.attrs.update({"maxlength": 120})
        # Left out (an older client, a script), the type is the default mix.
        self.fields["interview_type"].required = False

    def clean_job_role(self):
        role = " ".join(self.cleaned_data["job_role"].split())
        if not role:
            raise ValidationError("Tell us which role you are interviewing for.")
        return role

    def clean_resume_file(self):
        upload = self.cleaned_data.get("resume_file")
        if upload:
            self.cleaned_data["resume_from_file"] = extract_text(upload)
        return upload

    def clean(self):
        data = super().clean()
        if data.get("resume_from_file"):
            data["resume"] = data["resume_from_file"]
        data["interview_type"] = data.get("interview_type") or Interview.Type.MIXED
        if data.get("length_mode") == Interview.LengthMode.MINUTES:
            if not data.get("duration_minutes"):
                self.add_error("duration_minutes", "Choose a length between 5 and 45 minutes.")
            data["question_count"] = data.get("question_count") or 5
        else:
            if not data.get("question_count"):
                self.add_error("question_count", "Choose between 3 and 20 questions.")
            data["duration_minutes"] = data.get("duration_minutes") or 15
        return data
