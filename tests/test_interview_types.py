"""Interview types (mixed, behavioural, technical, situational, recruiter screen) and questions that fit the role."""

import re

import pytest
from django.urls import reverse

from interviews.engine import prompts
from interviews.engine import questions as bank
from interviews.engine.analysis import question_core
from interviews.engine.base import CLOSE, INTRODUCE, NEW_QUESTION, InterviewContext, TurnView
from interviews.engine.llm import LLMEngine
from interviews.engine.local import LocalEngine, coach_answer
from interviews.engine.policy import KIND_FOR_ACTION, allowed_actions
from interviews.export import interview_as_dict
from interviews.models import Interview
from interviews.report import as_markdown
from tests.factories import answered
from tests.fakes.gemini import fake_gemini  # noqa: F401  (the fixture)

TYPES = [t.value for t in Interview.Type]
ROLES = ["Registered Nurse", "Primary School Teacher", "Sales Representative", "Accountant", "Software Engineer",
         "Site Reliability Engineer (SRE)", "Product Manager", "Customer Support Specialist"]
# Words that have no place in a question to each kind of role, whatever the type.
FOREIGN = {
    "Registered Nurse": ("scope", "stakeholder", "deliverable", "customer", "roadmap", "code", "project", "sales", "pupil", "student"),
    "Primary School Teacher": ("scope", "stakeholder", "deliverable", "customer", "roadmap", "code", "patient", "sales", "ward"),
    "Sales Representative": ("patient", "student", "lesson", "ward", "code", "classroom"),
    "Accountant": ("patient", "student", "lesson", "ward", "code", "classroom"),
    "Software Engineer": ("patient", "student", "lesson", "ward", "classroom", "discount"),
    "Site Reliability Engineer (SRE)": ("patient", "student", "lesson", "ward", "classroom", "discount"),
    "Product Manager": ("patient", "student", "lesson", "ward", "classroom"),
    "Customer Support Specialist": ("patient", "student", "lesson", "ward", "classroom", "scope"),
}
STORY = (
    "In my last role our team was behind on a release. I was responsible for the plan, so I split the work, "
    "met the team daily and cut two features. As a result we shipped on time and complaints fell by 20%."
)
PLAN = (
    "First I would stop and check the chart with my colleague, because the patient's safety comes first. "
    "Then I'd tell the nurse in charge and fill in an incident report so that it is reviewed. "
    "Afterwards I would follow up with my colleague to see whether they needed support."
)
FIELDS = {"role": "", "company": "Acme", "at_company": " at Acme", "company_or_us": "Acme"}


def ctx_for(role, interview_type, seed=3, **kw):
    return InterviewContext(job_role=role, company="Acme", interview_type=interview_type, seed=seed, question_count=12, **kw)


def run(ctx, answers=(STORY, PLAN, "My notice period is four weeks."), turns=14):
    """The local interviewer with the real policy; returns the texts of its main questions (introduction first)."""
    engine, asked = LocalEngine(), []
    for i in range(turns):
        decision, text = engine.plan(ctx, allowed_actions(ctx))
        kind = KIND_FOR_ACTION[decision.action]
        ctx.transcript.append(TurnView("interviewer", kind, text))
        ctx.topics_covered = list(dict.fromkeys(ctx.topics_covered + decision.topics))
        if decision.action in (INTRODUCE, NEW_QUESTION):
            ctx.main_questions_asked += 1
            ctx.follow_ups_on_current = 0
            asked.append(text)
        elif decision.action != CLOSE:
            ctx.follow_ups_on_current += 1
        if decision.action == CLOSE:
            break
        ctx.transcript.append(TurnView("candidate", "answer", answers[i % len(answers)]))
    return asked


def generic_questions():
    return bank.OPENING + bank.MOTIVATION + bank.BEHAVIOURAL + bank.SITUATIONAL + bank.SCREEN + bank.WRAP_UP


def fill(q, role):
    return q.text.format(**{**FIELDS, "role": role})


# ----- the form -----


def test_it_offers_every_type_on_the_form_with_mixed_chosen(owner_client):
    page = owner_client.get(reverse("new_interview")).content.decode()
    for value in TYPES:
        assert f'name="interview_type" value="{value}"' in page
    assert re.search(r'name="interview_type" value="mixed"[^>]*checked', page)
    assert "Recruiter screen" in page


def post(owner_client, **over):
    data = {"job_role": "Registered Nurse", "company": "St Mary's", "style": "formal", "difficulty": "medium",
            "length_mode": "questions", "question_count": "4", "mode": "practice", **over}
    return owner_client.post(reverse("new_interview"), data)


def test_it_creates_an_interview_of_the_chosen_type(owner_client, owner):
    assert post(owner_client, interview_type="screen").status_code == 302
    assert post(owner_client).status_code == 302  # left out: the default mix
    assert list(owner.interviews.order_by("created_at").values_list("interview_type", flat=True)) == ["screen", "mixed"]


def test_it_refuses_an_unknown_type(owner_client, owner):
    response = post(owner_client, interview_type="interrogation")
    assert response.status_code == 200 and "interview_type" in response.context["form"].errors
    assert not owner.interviews.exists()


# ----- the question bank: what each type asks -----


def test_it_classifies_every_bank_question_as_its_list_says():
    for q in bank.BEHAVIOURAL:
        assert bank.question_kind(q.text) == bank.STORY, q.text
    for q in bank.SITUATIONAL:
        assert bank.question_kind(q.text) == bank.SITUATIONAL_KIND, q.text
    for q in bank.SCREEN:
        assert bank.question_kind(fill(q, "nurse")) == bank.SCREEN_KIND, q.text


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_recruiter_screen_asks_only_screening_and_motivation_questions(seed):
    asked = run(ctx_for("Registered Nurse", "screen", seed=seed))
    allowed = [fill(q, "Registered Nurse") for q in bank.SCREEN + bank.MOTIVATION]
    assert len(asked) >= 10
    for text in asked[1:]:  # the introduction's opener is about background
        assert any(q in text for q in allowed), text
    assert any("salary" in t or "notice period" in t for t in asked)


@pytest.mark.parametrize("role", ROLES)
def test_a_behavioural_interview_asks_for_stories(role):
    for text in run(ctx_for(role, "behavioural"))[1:]:
        assert bank.question_kind(text) == bank.STORY, text


@pytest.mark.parametrize("role", ROLES)
def test_a_situational_interview_asks_what_the_candidate_would_do(role):
    asked = run(ctx_for(role, "situational"))[1:]
    situational = [t for t in asked if bank.question_kind(t) == bank.SITUATIONAL_KIND]
    # Mostly scenarios; once the role's scenarios run out, other questions may follow.
    assert len(situational) >= min(8, len(asked)), asked


@pytest.mark.parametrize("role", ["Software Engineer", "Registered Nurse", "Accountant"])
def test_a_technical_interview_asks_the_roles_own_questions(role):
    own = [q.text for q in bank.ROLES[bank.match_role(role)]["questions"]]
    asked = run(ctx_for(role, "technical"), turns=8)[1:]
    assert asked and all(any(q in t for q in own) for t in asked), asked


def test_a_mixed_interview_draws_from_several_sources():
    ctx = ctx_for("Software Engineer", "mixed", resume="- Led the migration to Kubernetes, cutting costs by 40%")
    kinds = {bank.question_kind(t) for t in run(ctx)}
    assert len(kinds) >= 3, kinds


# ----- questions fit the role -----


def test_it_knows_the_kinds_of_role():
    assert "healthcare" in bank.role_kinds("Registered Nurse") and "project-work" not in bank.role_kinds("Registered Nurse")
    assert "finance" in bank.role_kinds("Accountant")
    assert "software" in bank.role_kinds("SRE")
    assert "people-management" in bank.role_kinds("Engineering Manager")
    assert "people-management" in bank.role_kinds("Head of Sales")
    assert "people-management" not in bank.role_kinds("Product Manager")
    assert bank.role_kinds("Astronaut") == {"any"}


@pytest.mark.parametrize("interview_type", TYPES)
@pytest.mark.parametrize("role", ROLES)
def test_every_question_asked_fits_the_role(role, interview_type):
    kinds = bank.role_kinds(role)
    for seed in (1, 2):
        for text in run(ctx_for(role, interview_type, seed=seed)):
            for q in generic_questions():
                if fill(q, role) in text:
                    assert bank.fits(q, kinds), (role, q.text)
            core = question_core(text).lower()
            for word in FOREIGN[role]:
                assert not re.search(rf"\b{word}", core), (role, interview_type, word, text)


@pytest.mark.parametrize("seed", range(8))
def test_a_nurse_is_never_asked_to_deliver_twice_the_scope(seed):
    for interview_type in TYPES:
        for text in run(ctx_for("Registered Nurse", interview_type, seed=seed)):
            assert "twice the scope" not in text


# ----- the coach judges structure by the kind of question -----


def scores(result):
    return {d: v["score"] for d, v in result.scores.items()}


def test_a_concise_factual_screening_answer_is_not_marked_down_for_missing_star():
    ctx = ctx_for("Registered Nurse", "screen")
    question = "What is your notice period, and when could you start?"
    answer = "My notice period is four weeks, so I could start on 1 March."
    result = coach_answer(ctx, question, answer)
    s = scores(result)
    assert s["structure"] >= 4 and s["relevance"] >= 4 and s["communication"] >= 4 and s["specificity"] >= 4, s
    said = " ".join([result.text, *result.improvements, *(v["note"] for v in result.scores.values())])
    assert "STAR parts missing" not in said and "too short" not in said and "150" not in said
    # The same few words to a story question are too thin: the kind, not the words, made the difference.
    story = scores(coach_answer(ctx_for("Registered Nurse", "mixed"), "Tell me about a time you advocated for a patient.", answer))
    assert story["structure"] < s["structure"]


def test_a_long_screening_answer_is_told_to_be_brief():
    answer = " ".join(["I have been thinking a great deal about the notice I would need to give my employer."] * 20)
    result = coach_answer(ctx_for("Registered Nurse", "screen"), "What is your notice period?", answer)
    assert any("short" in x for x in result.improvements), result.improvements
    assert result.scores["structure"]["score"] <= 3


def test_a_situational_plan_is_judged_as_a_plan():
    question = "Imagine you notice a colleague about to give a patient the wrong dose during a busy shift. What would you do?"
    ctx = ctx_for("Registered Nurse", "situational")
    full = coach_answer(ctx, question, PLAN)
    assert full.scores["structure"]["score"] == 5
    assert "plan" in full.scores["structure"]["note"] and "STAR" not in full.scores["structure"]["note"]
    # A plan without order, reasons or a check scores lower, and is told which parts are missing.
    thin = coach_answer(ctx, question, "I would tell the nurse in charge about it and I would talk to my colleague about what happened on the ward.")
    assert thin.scores["structure"]["score"] < full.scores["structure"]["score"]
    assert "order" in thin.scores["structure"]["note"] and "why" in thin.scores["structure"]["note"]
    assert any("first" in x or "reason" in x for x in thin.improvements), thin.improvements


def test_a_story_is_still_judged_by_star():
    result = coach_answer(ctx_for("Software Engineer", "behavioural"), "Tell me about a time you were behind on a release.", STORY)
    assert "STAR" in result.scores["structure"]["note"] or "situation" in result.scores["structure"]["note"]


def test_a_technical_answer_is_judged_on_its_reasoning():
    question = "How do you roll out a risky infrastructure change safely?"
    ctx = ctx_for("Site Reliability Engineer", "technical")
    reasoned = coach_answer(ctx, question, (
        "First I put the change behind a feature flag and roll it out to one canary region, because a small blast "
        "radius lets me compare error rates with the rest of the fleet. Then I watch the SLO dashboards in Grafana "
        "for an hour, and only after that do I widen the rollout in steps of 10% of traffic, with a tested rollback."))
    bare = coach_answer(ctx, question, (
        "Carefully. Infrastructure changes are risky, and a good engineer knows that the people who depend on the "
        "service care about it staying up, and that is what matters most to everyone involved in the change."))
    assert reasoned.scores["structure"]["score"] > bare.scores["structure"]["score"]
    assert "reasoning" in reasoned.text


# ----- the model's prompts carry the type -----


def test_the_interviewer_prompt_names_the_type_and_the_roles_fit():
    ctx = ctx_for("Registered Nurse", "screen")
    system = prompts.interviewer_messages(ctx, {INTRODUCE})[0][1]
    assert "Recruiter screen" in system and "salary" in system and "notice period" in system
    assert "fit the real work of a Registered Nurse" in system
    assert "Situational" in prompts.interviewer_messages(ctx_for("Nurse", "situational"), {INTRODUCE})[0][1]


def test_the_coach_prompt_judges_structure_by_the_kind_of_question():
    ctx = ctx_for("Registered Nurse", "screen")
    system, user = (text for _, text in prompts.coach_messages(ctx, "What are your salary expectations?", "Around 38k.", {}))
    assert "screening question: judge concise facts" in system and "must not lower" in system
    assert "interview type: screen" in user and "question kind: screen" in user
    system = prompts.coach_messages(ctx_for("Nurse", "situational"), "Suppose a patient refuses treatment. What would you do?", "x", {})[0][1]
    assert "judge the plan, not STAR" in system


async def test_the_model_engine_sends_the_type_to_the_model(fake_gemini):
    fake_gemini.script("ACTION: introduce\n---\nHello. What are your salary expectations for this role?")
    engine = LLMEngine("google_genai:gemini-2.5-flash")
    items = [item async for item in engine.stream_turn(ctx_for("Registered Nurse", "screen"), {INTRODUCE})]
    assert "salary expectations" in "".join(i for i in items if isinstance(i, str))
    (req,) = fake_gemini.requests
    assert "Interview type: Recruiter screen" in req.system


# ----- shown to the candidate, the staff and in the exports -----


def test_the_room_report_dashboard_and_exports_show_the_type(owner_client, owner):
    interview = answered(owner, interview_type="screen")
    room = owner_client.get(reverse("interview_room", args=[interview.id])).content.decode()
    assert "Recruiter screen interview" in room
    interview.status = Interview.Status.COMPLETED
    interview.save()
    assert "Recruiter screen interview" in owner_client.get(reverse("interview_report", args=[interview.id])).content.decode()
    assert "Recruiter screen" in owner_client.get(reverse("dashboard")).content.decode()
    assert interview_as_dict(interview)["interview_type"] == "screen"
    assert "Interview type: Recruiter screen" in as_markdown(interview)


def test_staff_filter_interviews_by_type(client, staff, owner):
    answered(owner, interview_type="screen")
    answered(owner)
    client.force_login(staff)
    response = client.get(reverse("admin:interviews_interview_changelist"), {"interview_type__exact": "screen"})
    assert response.context["cl"].result_count == 1


def thread_after(question, answer, interview_type):
    ctx = ctx_for("Registered Nurse", interview_type)
    ctx.transcript = [TurnView("interviewer", "question", question), TurnView("candidate", "answer", answer)]
    ctx.main_questions_asked = 2
    return ctx


def test_it_follows_up_a_thin_plan_by_asking_for_its_steps_not_for_an_example():
    ctx = thread_after("Imagine your ward is two staff short at the start of a night shift. How would you prioritise the care?",
                       "I would ask for help from another ward.", "situational")
    decision, text = LocalEngine().plan(ctx, allowed_actions(ctx))
    assert decision.action == "follow_up" and "plan" in decision.justification
    assert "example" not in text.lower()


def test_it_moves_on_after_a_short_factual_screening_answer():
    ctx = thread_after("What is your notice period, and when could you start?", "Four weeks, so early March.", "screen")
    decision, _ = LocalEngine().plan(ctx, allowed_actions(ctx))
    assert decision.action == NEW_QUESTION, decision


def test_a_mixed_interview_prefers_the_roles_own_questions_to_any_generic_set():
    own = [q.text for q in bank.ROLES["nurse"]["questions"]]
    counts = {"role": 0, "behavioural": 0, "situational": 0, "motivation": 0}
    generic = {"behavioural": bank.BEHAVIOURAL, "situational": bank.SITUATIONAL, "motivation": bank.MOTIVATION}
    asked = 0
    for seed in range(10):
        for text in run(ctx_for("Registered Nurse", "mixed", seed=seed))[1:]:
            asked += 1
            counts["role"] += any(q in text for q in own)
            for name, qs in generic.items():
                counts[name] += any(fill(q, "Registered Nurse") in text for q in qs)
    assert counts["role"] > max(counts["behavioural"], counts["situational"], counts["motivation"]), counts
    # Without a preference the role's few questions would be about a quarter of those asked.
    assert counts["role"] >= 0.35 * asked, (counts, asked)


def test_it_reads_the_kind_of_a_question_behind_an_acknowledgement_and_a_lead_in():
    turn = 'I appreciate the detail on "complaints fell by 20%". My next question: Describe a lesson that failed. What did you change afterwards?'
    assert bank.question_kind(turn) == bank.STORY
    assert bank.question_kind("Thanks. Moving on. What is your notice period?") == bank.SCREEN_KIND
    assert bank.question_kind("Okay. Suppose a patient refuses treatment. What would you do?") == bank.SITUATIONAL_KIND
    assert bank.question_kind("How do you roll out a risky infrastructure change safely?") == bank.TECHNICAL_KIND
    assert bank.question_kind("What motivates you most in your work?") == bank.GENERAL
    assert bank.question_kind("What motivates you most in your work?", "screen") == bank.SCREEN_KIND
