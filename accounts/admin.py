import json

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone

from accounts.export import export_user_data
from accounts.models import Profile
from interviews.models import Interview
from interviews.sockets import DELETED, close_sockets

User = get_user_model()


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "preferred_style", "preferred_difficulty"]
    list_filter = ["preferred_style", "preferred_difficulty"]
    search_fields = ["user__email", "user__username"]
    raw_id_fields = ["user"]


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    extra = 0


# Needs "change" on users, not just "view": it downloads everything each user wrote.
@admin.action(description="Export selected users' data (JSON)", permissions=["change"])
def export_users(modeladmin, request, queryset):
    # The same document each user downloads themselves, for access requests.
    data = [export_user_data(user) for user in queryset.order_by("pk")]
    response = HttpResponse(json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="users-export-{timezone.localdate():%Y-%m-%d}.json"'
    return response


admin.site.unregister(User)


@admin.register(User)
class AccountUserAdmin(UserAdmin):
    inlines = [ProfileInline]
    actions = [export_users]

    # As when users delete their own account: their files go too, and their
    # open sockets close.
    def delete_model(self, request, obj):
        self.delete_queryset(request, User.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            user_pks = list(queryset.values_list("pk", flat=True))
            Interview.delete_files_on_commit(Interview.objects.filter(owner__in=user_pks))
            queryset.delete()
        for pk in user_pks:
            close_sockets(pk, DELETED)
