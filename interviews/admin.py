import json

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone

from interviews.export import interview_as_dict
from interviews.models import Feedback, Interview, Turn
from interviews.sockets import DELETED, close_sockets


class TurnInline(admin.TabularInline):
    """The transcript, read-only, with each interviewer turn's model latency and tokens."""

    model = Turn
    extra = 0
    can_delete = False
    ordering = ["index"]
    fields = ["index", "speaker", "kind", "text", "source", "model_ms", "first_token_ms", "tokens_in", "tokens_out", "response_seconds", "ended_by", "created_at"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Interview)
class InterviewAdmin(admin.ModelAdmin):
    list_display = ["job_role", "company", "owner", "status", "interview_type", "style", "difficulty", "overall_score", "llm_calls", "llm_seconds", "created_at"]
    list_filter = ["status", "interview_type", "style", "difficulty", "mode", "length_mode", "summary_status", "created_at", ("owner", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["job_role", "company", "owner__email"]
    date_hierarchy = "created_at"
    list_select_related = ["owner"]
    inlines = [TurnInline]
    actions = ["mark_abandoned", "export_json"]
    readonly_fields = [
        "id", "owner", "created_at", "updated_at", "completed_at", "elapsed_seconds", "topics_covered",
        "summary", "summary_status", "summary_error", "overall_score", "llm_name", "tokens_in", "tokens_out",
        "llm_seconds", "llm_calls", "llm_errors", "generating_until", "generation_error",
    ]
    fieldsets = [
        (None, {"fields": ["id", "owner", "job_role", "company", "status", "created_at", "completed_at"]}),
        ("Set-up", {"fields": ["style", "difficulty", "length_mode", "question_count", "duration_minutes", "mode", "job_description", "resume"]}),
        ("Usage", {"fields": ["tokens_in", "tokens_out", "llm_seconds", "llm_calls", "llm_errors", "elapsed_seconds", "topics_covered"]}),
        ("Report", {"fields": ["summary_status", "overall_score", "summary_error", "summary"]}),
        ("Turn in progress", {"classes": ["collapse"], "fields": ["generating_until", "generation_error"]}),
    ]

    # The cascade reaches rows only: the interview's recordings, uploads and
    # speech go too, and its open sockets close, as when its owner deletes it.
    def delete_model(self, request, obj):
        owner_id, pk = obj.owner_id, obj.pk
        obj.delete_with_files()
        close_sockets(owner_id, DELETED, pk)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            deleted = list(queryset.values_list("owner_id", "pk"))
            Interview.delete_files_on_commit(queryset)
            queryset.delete()
        for owner_id, pk in deleted:
            close_sockets(owner_id, DELETED, pk)

    # Actions without `permissions` are offered to anyone who may view the list:
    # exporting every answer and marking interviews abandoned need "change".
    @admin.action(description="Mark selected active interviews as abandoned", permissions=["change"])
    def mark_abandoned(self, request, queryset):
        count = queryset.filter(status=Interview.Status.ACTIVE).update(status=Interview.Status.ABANDONED, updated_at=timezone.now())
        self.message_user(request, f"{count} interview(s) marked abandoned.", messages.SUCCESS)

    @admin.action(description="Export selected interviews as JSON", permissions=["change"])
    def export_json(self, request, queryset):
        data = [interview_as_dict(i) for i in queryset.prefetch_related("turns__feedback")]
        response = HttpResponse(json.dumps(data, indent=2, ensure_ascii=False, default=str), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="interviews-{timezone.localdate().isoformat()}.json"'
        return response


class FeedbackInline(admin.StackedInline):
    model = Feedback
    extra = 0
    can_delete = False
    readonly_fields = ["status", "scores", "metrics", "strengths", "improvements", "text", "rewrite", "source", "model_ms", "tokens_in", "tokens_out"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Turn)
class TurnAdmin(admin.ModelAdmin):
    """One turn, with the coach's feedback on it; reached from the interview's transcript."""

    list_display = ["interview", "index", "speaker", "kind", "model_ms", "tokens_in", "tokens_out", "created_at"]
    list_filter = ["speaker", "kind", "source"]
    search_fields = ["interview__job_role", "interview__owner__email"]
    list_select_related = ["interview"]
    readonly_fields = ["interview", "index", "speaker", "kind", "text", "source", "audio", "decision", "model_ms", "first_token_ms", "tokens_in", "tokens_out", "response_seconds", "speaking_seconds", "thinking_seconds", "ended_by", "attempt_of", "created_at"]
    inlines = [FeedbackInline]

    def has_add_permission(self, request):
        return False
