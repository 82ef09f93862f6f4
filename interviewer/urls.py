from django.contrib import admin
from django.urls import include, path

from interviewer import views as ops
from interviewer.ratelimit import ratelimit

urlpatterns = [
    # Before admin.site.urls, so password guessing at the admin login is limited.
    path("admin/login/", ratelimit("admin_login")(admin.site.login)),
    path("admin/", admin.site.urls),
    # Operations: probes, Prometheus and the staff dashboard.
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("staff/", ops.staff_dashboard, name="staff_dashboard"),
    path("accounts/", include("allauth.urls")),
    path("account/", include("accounts.urls")),
    path("", include("speech.urls")),
    path("", include("interviews.urls")),
]
