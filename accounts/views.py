import json

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.export import export_user_data
from accounts.forms import DeleteAccountForm, ProfileForm
from accounts.models import Profile
from interviews.sockets import DELETED, close_sockets
from interviews.models import Interview


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    profile = Profile.for_user(request.user)
    form = ProfileForm(request.POST if request.method == "POST" else None, instance=profile)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Your profile is saved. New interviews will start from these defaults.")
        return redirect("profile")
    return render(request, "accounts/profile.html", {"form": form, "profile": profile})


@login_required
@require_GET
def export_data(request):
    data = export_user_data(request.user)
    filename = f"interviewer-export-{timezone.localdate():%Y-%m-%d}.json"
    response = HttpResponse(json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def delete_account(request):
    user = request.user
    form = DeleteAccountForm(request.POST if request.method == "POST" else None, user=user)
    if request.method == "POST" and form.is_valid():
        user_pk = user.pk
        with transaction.atomic():
            # Recordings and speech live in MEDIA_ROOT, which the cascade does not reach.
            Interview.delete_files_on_commit(user.interviews.all())
            user.delete()  # cascades to profile, interviews, turns, feedback, email addresses
            transaction.on_commit(lambda: close_sockets(user_pk, DELETED))
        # After the deletion, so the sockets hear "deleted" rather than "logged out".
        logout(request)
        messages.success(request, "Your account and all your interviews have been deleted.")
        return redirect("home")
    return render(request, "accounts/delete.html", {"form": form, "interview_count": user.interviews.count()})
