from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.models import Profile


@login_required
def profile(request):
    return render(request, "accounts/profile.html", {"profile": Profile.for_user(request.user)})
