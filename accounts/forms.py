from django import forms

from accounts.models import Profile
from interviews.models import Interview

RESUME_MAX_CHARS = 20_000


class ProfileForm(forms.ModelForm):
    default_resume = forms.CharField(
        label="Default résumé",
        required=False,
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text=f"Pre-filled on every new interview. Up to {RESUME_MAX_CHARS:,} characters.",
    )
    preferred_style = forms.ChoiceField(label="Preferred interviewer style", choices=Interview.Style.choices)
    preferred_difficulty = forms.ChoiceField(label="Preferred difficulty", choices=Interview.Difficulty.choices)

    class Meta:
        model = Profile
        fields = ["default_resume", "preferred_style", "preferred_difficulty"]

    def clean_default_resume(self):
        text = self.cleaned_data["default_resume"]
        if len(text) > RESUME_MAX_CHARS:
            raise forms.ValidationError(
                f"Your résumé is {len(text):,} characters long; the limit is {RESUME_MAX_CHARS:,}. "
                "Please shorten it."
            )
        return text


class DeleteAccountForm(forms.Form):
    confirm = forms.CharField(label="Type your email address to confirm", max_length=254)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.expected = user.email or user.get_username()
        self.fields["confirm"].widget.attrs.update(autocomplete="off", placeholder=self.expected)

    def clean_confirm(self):
        typed = self.cleaned_data["confirm"].strip()
        if typed.casefold() != self.expected.casefold():
            raise forms.ValidationError(
                f"That does not match {self.expected}. Nothing was deleted: type the address exactly to confirm."
            )
        return typed
