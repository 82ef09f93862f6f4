from django.contrib import admin
from django.urls import include, path

from interviewer import views as ops

urlpatterns = [
    # Before admin.site.urls: staff sign in through allauth, whose limits on
    # failed logins (per address and per account) then apply to them too.
    path("admin/login/", ops.admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
    # Operations: probes, Prometheus and the staff dashboard.
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("staff/", ops.staff_dashboard, name="staff_dashboard"),
    path("accounts/", include("allauth.urls")),
    path("account/", include("accounts.urls")),
    path("", include("interviews.urls")),
]
