import asyncio

import pytest

from interviews.engine import questions as bank
from interviews.engine.analysis import analyse, display_term, key_terms
from interviews.engine.base import (
    CLOSE,
    DIMENSIONS,
    FOLLOW_UP,
    INTRODUCE,
    NEW_QUESTION,
    AnsweredQuestion,
    Decision,
    InterviewContext,
    TurnView,
    Usage,
)
from interviews.engine.local import LocalEngine, coach_answer, key_phrase
from interviews.engine.policy import KIND_FOR_ACTION, MAX_FOLLOW_UPS, allowed_actions
from interviews.engine.resources import curated_resources

JD = (
    "We are looking for a Senior Backend Engineer to join our platform team. You will design and build "
    "microservices in Python and Go, running on Kubernetes in AWS. You will own our CI/CD pipelines, improve "
    "observability with Prometheus and Grafana, and take part in incident response. Requirements: 5+ years of "
    "experience with Python, strong SQL and PostgreSQL skills, experience with Terraform, and stakeholder management."
)
RESUME = (
    "Jane Doe, Backend Engineer\n"
    "- Led the migration to Kubernetes, cutting deploy time by 40%\n"
    "- Built a real-time fraud detection pipeline in Python and Kafka\n"
    "- Mentored four junior engineers through their first on-call rotation\n"
)
QUESTION = "Tell me about a time you improved the performance of a slow system."
GOOD = (
    "In my last role at a fintech startup, our checkout service was timing out during peak traffic and we were "
    "losing about 5% of orders. I was responsible for fixing it before Black Friday, which was three weeks away. "
    "I profiled the service, found that the PostgreSQL queries were missing an index, and I rewrote the slow "
    "endpoints in Python with caching in Redis. I also set up Prometheus alerts so the team could see latency. "
    "As a result, p95 latency dropped from 2 seconds to 300 ms, checkout errors fell by 90%, and we processed "
    "$2M in sales over the weekend without an incident."
)
VAGUE = "Um, I basically did a lot of stuff with the team, like, we kind of worked on things and it went okay I guess, you know."
SHORT = "I fixed some slow queries and it was fine then."  # 10 words
WE_HEAVY = (
    "We had a big project and we worked on it together as a team. We planned it carefully and we split the work "
    "between us, then we reviewed everything and we shipped it to our customers on time in the end, and our "
    "manager was happy with how we handled the whole project overall."
)
FILLER_HEAVY = (
    "Um, so, like, in my last role, um, our checkout service was, like, timing out and, uh, I was responsible "
    "for fixing it. Basically I, like, profiled it and, um, I rewrote the slow endpoints in Python, you know, "
    "with caching. Actually, as a result, uh, latency dropped from 2 seconds to 300 ms and errors fell by 90%."
)
CLEAN_SAME_CONTENT = (
    "In my last role, our checkout service was timing out and I was responsible for fixing it. "
    "I profiled it and I rewrote the slow endpoints in Python with caching. "
    "As a result, latency dropped from 2 seconds to 300 ms and errors fell by 90%."
)
ROTATION = [GOOD, SHORT, WE_HEAVY, GOOD, VAGUE, GOOD]


def make_ctx(**kw):
    defaults = dict(job_role="Senior Backend Developer", company="Acme", job_description=JD, resume=RESUME, seed=7)
    defaults.update(kw)
    return InterviewContext(**defaults)


def say(ctx, decision, text, record_topics=True):
    """Record an interviewer turn the way interviews.turns does."""
    kind = KIND_FOR_ACTION[decision.action]
    ctx.transcript.append(TurnView("interviewer", kind, text))
    if record_topics:
        ctx.topics_covered = list(dict.fromkeys(ctx.topics_covered + decision.topics))
    if kind in ("introduction", "question"):
        ctx.main_questions_asked += 1
        ctx.follow_ups_on_current = 0
    elif kind == "follow_up":
        ctx.follow_ups_on_current += 1


def answer(ctx, text, seconds=50):
    ctx.transcript.append(TurnView("candidate", "answer", text))
    ctx.elapsed_seconds += seconds


def simulate(ctx, answers=ROTATION, max_turns=12, seconds=50, record_topics=True):
    """Drive an interview with the real policy; returns [(allowed, decision, text)] per interviewer turn."""
    engine, turns = LocalEngine(), []
    for i in range(max_turns):
        allowed = allowed_actions(ctx)
        decision, text = engine.plan(ctx, allowed)
        turns.append((allowed, decision, text))
        say(ctx, decision, text, record_topics)
        if decision.action == CLOSE:
            break
        answer(ctx, answers[i % len(answers)], seconds)
    return turns


def question_groups(ctx):
    """Every question the engine could ask, grouped so two hits in one group means a repeat."""
    fields = {"role": ctx.job_role, "company": ctx.company, "at_company": f" at {ctx.company}", "company_or_us": ctx.company}
    groups = []
    for q in bank.OPENING + bank.MOTIVATION + bank.BEHAVIOURAL + bank.SITUATIONAL + bank.WRAP_UP:
        groups.append([q.text.format(**fields)])
    for spec in bank.ROLES.values():
        groups += [[q.text] for q in spec["questions"]]
    for term in key_terms(ctx.job_description, ctx.job_role, limit=10):
        groups.append([t.format(term=display_term(term)) for ts in bank.JD_TERM_QUESTIONS.values() for t in ts])
    for item in bank.resume_items(ctx.resume):
        groups.append([t.format(item=item) for ts in bank.RESUME_QUESTIONS.values() for t in ts])
    return groups


def assert_no_repeats(ctx, turns):
    texts = [text for _, _, text in turns]
    assert len(texts) == len(set(texts)), "an interviewer turn was repeated word for word"
    for group in question_groups(ctx):
        hits = [t for t in texts if any(q in t for q in group)]
        assert len(hits) <= 1, f"asked twice: {group[0]!r}"


# ----- the interviewer -----


@pytest.mark.parametrize(
    "role,style,difficulty",
    [
        ("Senior Backend Developer", "formal", "medium"),
        ("Senior Backend Developer", "technical", "hard"),
        ("Data Scientist", "challenging", "hard"),
        ("Registered Nurse", "casual", "easy"),
        ("Product Manager", "formal", "easy"),
        ("Astronaut", "technical", "medium"),
    ],
)
@pytest.mark.parametrize("mode", ["questions", "minutes"])
def test_it_never_repeats_a_question_in_a_twelve_turn_interview(role, style, difficulty, mode):
    ctx = make_ctx(job_role=role, style=style, difficulty=difficulty, length_mode=mode, question_count=8, duration_minutes=10)
    turns = simulate(ctx, max_turns=12)
    assert len(turns) >= 10
    assert_no_repeats(ctx, turns)


@pytest.mark.parametrize("seed", range(5))
def test_it_never_repeats_a_question_even_without_recorded_topics(seed):
    # Topics are capped and may come from another engine; the transcript alone must prevent repeats.
    ctx = make_ctx(seed=seed, question_count=12, job_description="", resume="")
    turns = simulate(ctx, answers=[GOOD], max_turns=14, record_topics=False)
    assert_no_repeats(ctx, turns)


@pytest.mark.parametrize("mode", ["questions", "minutes"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_it_only_chooses_allowed_actions_and_closes_in_the_end(mode, seed):
    ctx = make_ctx(length_mode=mode, question_count=5, duration_minutes=8, seed=seed)
    turns = simulate(ctx, max_turns=40, seconds=40)
    for allowed, decision, _ in turns:
        assert decision.action in allowed
        assert decision.justification
    assert turns[0][1].action == INTRODUCE
    assert turns[-1][1].action == CLOSE
    assert_no_repeats(ctx, turns)
    if mode == "questions":
        assert ctx.main_questions_asked == 5
    else:
        assert ctx.fraction_done >= 0.7


@pytest.mark.parametrize(
    "allowed",
    [
        frozenset({NEW_QUESTION}),
        frozenset({FOLLOW_UP}),
        frozenset({CLOSE}),
        frozenset({FOLLOW_UP, CLOSE}),
        frozenset({NEW_QUESTION, FOLLOW_UP}),
        frozenset({NEW_QUESTION, FOLLOW_UP, CLOSE}),
    ],
)
@pytest.mark.parametrize("last_answer", [GOOD, SHORT])
def test_it_picks_only_from_the_allowed_actions(allowed, last_answer):
    ctx = make_ctx()
    say(ctx, Decision(INTRODUCE, "", []), "Hello. Tell me about a time you improved a slow system.")
    answer(ctx, last_answer)
    decision, text = LocalEngine().plan(ctx, allowed)
    assert decision.action in allowed
    assert text.strip()


def test_it_introduces_itself_naming_the_role_and_company_and_asks_a_first_question():
    ctx = make_ctx(job_role="Data Analyst", company="Globex")
    decision, text = LocalEngine().plan(ctx, allowed_actions(ctx))
    assert decision.action == INTRODUCE
    assert "Data Analyst" in text and "Globex" in text
    fields = {"role": "Data Analyst", "company": "Globex", "at_company": " at Globex", "company_or_us": "Globex"}
    assert any(text.endswith(q.text.format(**fields)) for q in bank.OPENING)


def test_it_introduces_each_style_differently():
    intros = {style: LocalEngine().plan(make_ctx(style=style), {INTRODUCE})[1] for style in bank.INTRODUCTIONS}
    assert len(set(intros.values())) == 4
    assert "push" in intros["challenging"] or "challenge" in intros["challenging"]
    assert "technical" in intros["technical"]


def test_it_opens_hard_interviews_with_a_harder_question():
    easy = LocalEngine().plan(make_ctx(difficulty="easy"), {INTRODUCE})[1]
    hard = LocalEngine().plan(make_ctx(difficulty="hard"), {INTRODUCE})[1]
    hard_openers = [q.text for q in bank.OPENING if q.difficulty == "hard"]
    assert any(q.format(role="Senior Backend Developer") in hard for q in hard_openers)
    assert not any(q.format(role="Senior Backend Developer") in easy for q in hard_openers)


def thread(question, *answers, **kw):
    ctx = make_ctx(**kw)
    say(ctx, Decision(INTRODUCE, "", []), "Hello and welcome.")
    answer(ctx, GOOD)
    say(ctx, Decision(NEW_QUESTION, "", ["performance"]), f'Thanks. {question}')
    for a in answers:
        answer(ctx, a)
    return ctx


def test_it_follows_up_on_a_ten_word_answer_and_asks_for_an_example():
    ctx = thread(QUESTION, SHORT)
    decision, text = LocalEngine().plan(ctx, allowed_actions(ctx))
    assert decision.action == FOLLOW_UP
    assert "10 words" in decision.justification
    assert "example" in text.lower() or "more" in text.lower()


def test_it_follows_up_on_we_heavy_answers_asking_for_the_candidates_part():
    ctx = thread(QUESTION, WE_HEAVY)
    decision, text = LocalEngine().plan(ctx, allowed_actions(ctx))
    assert decision.action == FOLLOW_UP
    assert '"we"' in decision.justification
    assert any(w in text.lower() for w in ("your own", "yours", "you personally", "your contribution", "you own"))


def test_it_follows_up_when_a_story_has_no_outcome():
    no_outcome = (
        "At my previous company the nightly reports were slow, and I was asked to look into it. I read the query "
        "plans, talked to the analysts about which reports mattered, and I rewrote the two biggest queries using "
        "window functions instead of nested subqueries, then I moved the jobs to run in parallel on the replica."
    )
    ctx = thread(QUESTION, no_outcome)
    decision, text = LocalEngine().plan(ctx, allowed_actions(ctx))
    assert decision.action == FOLLOW_UP
    assert "outcome" in decision.justification
    assert any(w in text.lower() for w in ("result", "outcome", "turn out", "impact", "how did that end"))


def test_it_asks_about_a_jd_term_the_answer_skipped():
    question = "The job description puts weight on Terraform. Tell me about a project where Terraform mattered, and what you did."
    ctx = thread(question, GOOD)
    decision, text = LocalEngine().plan(ctx, allowed_actions(ctx))
    assert decision.action == FOLLOW_UP
    assert "Terraform" in text


def test_it_does_not_ask_the_same_kind_of_follow_up_twice_on_one_question():
    ctx = thread(QUESTION, SHORT)
    engine = LocalEngine()
    first, first_text = engine.plan(ctx, allowed_actions(ctx))
    say(ctx, first, first_text)
    answer(ctx, "It was a quick fix really, nothing special.")
    second, second_text = engine.plan(ctx, allowed_actions(ctx))
    assert first.justification != second.justification
    assert first_text != second_text


def test_it_moves_on_after_a_good_answer_and_acknowledges_it_with_a_quote():
    ctx = thread(QUESTION, GOOD)
    decision, text = LocalEngine().plan(ctx, allowed_actions(ctx))
    assert decision.action == NEW_QUESTION
    assert decision.topics
    quoted = text.split('"')[1]
    assert quoted in GOOD
    assert len(quoted.split()) >= 3


def test_it_quotes_the_result_rather_than_the_set_up():
    assert "90%" in key_phrase(GOOD)


def test_it_asks_about_resume_items_and_jd_terms():
    ctx = make_ctx(length_mode="questions", question_count=10, style="formal")
    texts = [t for _, _, t in simulate(ctx, answers=[GOOD], max_turns=12)]
    joined = " ".join(texts)
    assert "résumé mentions" in joined or "from your résumé" in joined or "on your résumé" in joined
    jd_questions = [
        template.format(term=display_term(term))
        for term in key_terms(JD, ctx.job_role, limit=10)
        for templates in bank.JD_TERM_QUESTIONS.values()
        for template in templates
    ]
    assert any(q in joined for q in jd_questions)


def test_it_asks_more_role_specific_questions_in_technical_style():
    def role_questions(style):
        total = 0
        for seed in range(6):
            ctx = make_ctx(style=style, seed=seed, job_description="", resume="", question_count=8)
            texts = [t for _, _, t in simulate(ctx, answers=[GOOD], max_turns=9)]
            role_bank = [q.text for q in bank.ROLES["software_engineer"]["questions"]]
            total += sum(1 for t in texts if any(q in t for q in role_bank))
        return total

    assert role_questions("technical") > role_questions("casual")


def test_it_pushes_harder_in_the_challenging_style():
    soft = LocalEngine().plan(thread(QUESTION, SHORT, style="casual"), {FOLLOW_UP, NEW_QUESTION})[1]
    hard = LocalEngine().plan(thread(QUESTION, SHORT, style="challenging"), {FOLLOW_UP, NEW_QUESTION})[1]
    assert any(hard.startswith(p) for p in bank.CHALLENGING_FOLLOW_UP_PREFIX)
    assert not any(soft.startswith(p) for p in bank.CHALLENGING_FOLLOW_UP_PREFIX)


def test_it_asks_a_wrap_up_question_before_closing_a_timed_interview():
    ctx = make_ctx(length_mode="minutes", duration_minutes=10)
    turns = simulate(ctx, answers=[GOOD], max_turns=40, seconds=60)
    assert turns[-1][1].action == CLOSE
    wrap_ups = [q.text.format(company_or_us="Acme") for q in bank.WRAP_UP]
    assert any(w in turns[-2][2] for w in wrap_ups)


def test_it_does_not_close_a_timed_interview_before_the_closing_phase():
    ctx = make_ctx(length_mode="minutes", duration_minutes=10)
    for _, decision, _ in simulate(ctx, answers=[GOOD], max_turns=40, seconds=60)[:-1]:
        assert decision.action != CLOSE


def test_it_is_deterministic_for_the_same_seed_and_varies_across_seeds():
    runs = [[t for _, _, t in simulate(make_ctx(seed=11))] for _ in range(2)]
    assert runs[0] == runs[1]
    others = {tuple(t for _, _, t in simulate(make_ctx(seed=s))) for s in range(1, 6)}
    assert len(others) > 1


async def test_it_streams_a_decision_then_text_chunks_then_usage(settings):
    settings.INTERVIEW_LOCAL_STREAM_DELAY = 0
    ctx = thread(QUESTION, GOOD)
    allowed = allowed_actions(ctx)
    items = [item async for item in LocalEngine().stream_turn(ctx, allowed)]
    assert isinstance(items[0], Decision) and items[0].action in allowed
    assert isinstance(items[-1], Usage) and items[-1].calls == 0
    chunks = items[1:-1]
    assert len(chunks) > 5 and all(isinstance(c, str) for c in chunks)
    assert "".join(chunks) == LocalEngine().plan(ctx, allowed)[1]


async def test_it_paces_the_stream_with_the_configured_delay(settings):
    settings.INTERVIEW_LOCAL_STREAM_DELAY = 0.01
    ctx = make_ctx()
    loop = asyncio.get_running_loop()
    start = loop.time()
    items = [item async for item in LocalEngine().stream_turn(ctx, {INTRODUCE})]
    assert loop.time() - start >= 0.01 * (len(items) - 3)


async def test_it_plans_coaches_and_reports_off_the_event_loop(monkeypatch, settings):
    """The analysis is CPU work: it must run in a thread, never on the loop that serves every socket."""
    import threading

    from interviews.engine import local

    settings.INTERVIEW_LOCAL_STREAM_DELAY = 0
    threads = {}

    def recording(name, fn):
        def run(*args):
            threads[name] = threading.get_ident()
            return fn(*args)

        return run

    monkeypatch.setattr(LocalEngine, "plan", recording("plan", LocalEngine.plan))
    monkeypatch.setattr(local, "coach_answer", recording("coach", local.coach_answer))
    monkeypatch.setattr(local, "build_report", recording("report", local.build_report))
    ctx = thread(QUESTION, GOOD)
    engine = LocalEngine()
    [item async for item in engine.stream_turn(ctx, allowed_actions(ctx))]
    await engine.coach(ctx, QUESTION, GOOD, None)
    await engine.report(ctx, [])
    assert set(threads) == {"plan", "coach", "report"}
    assert threading.get_ident() not in threads.values()


# ----- the coach -----


async def test_it_scores_a_good_star_answer_above_a_vague_one_on_every_dimension():
    ctx = make_ctx()
    engine = LocalEngine()
    good = await engine.coach(ctx, QUESTION, GOOD, analyse(QUESTION, GOOD, JD, ctx.job_role))
    vague = await engine.coach(ctx, QUESTION, VAGUE, analyse(QUESTION, VAGUE, JD, ctx.job_role))
    for dim in DIMENSIONS:
        assert good.scores[dim]["score"] > vague.scores[dim]["score"], dim
    assert good.scores["structure"]["score"] >= 4
    assert vague.scores["specificity"]["score"] <= 2


@pytest.mark.parametrize("text", [GOOD, VAGUE, SHORT, WE_HEAVY, FILLER_HEAVY, "Yes.", ""])
def test_it_always_quotes_evidence_from_the_answer(text):
    result = coach_answer(make_ctx(), QUESTION, text, analyse(QUESTION, text, JD))
    assert set(result.scores) == set(DIMENSIONS)
    for dim, entry in result.scores.items():
        assert isinstance(entry["score"], int) and 1 <= entry["score"] <= 5
        assert entry["evidence"] in text
        assert len(entry["evidence"]) <= 200
        assert bool(entry["evidence"]) == bool(text.strip())
        assert entry["note"]
    assert 1 <= len(result.strengths) <= 2
    assert 1 <= len(result.improvements) <= 2
    assert result.text


def test_it_scores_an_on_topic_answer_as_more_relevant_than_an_off_topic_one():
    question = "Describe a disagreement you had with a colleague. How did you handle it, and what happened?"
    on_topic = (
        "In my last team a colleague and I disagreed about whether to rewrite our billing service. I asked for a "
        "one-hour meeting, we listed the risks of each option, and I proposed a two-week spike to test the rewrite. "
        "As a result we agreed to refactor instead, and we shipped it a month early."
    )
    off_topic = (
        "In my last team I was asked to speed up our billing service before the audit. I profiled it, added an index "
        "and I cached the slowest report. As a result the report ran in 3 seconds instead of 40, a month early."
    )
    on = coach_answer(make_ctx(), question, on_topic, analyse(question, on_topic))
    off = coach_answer(make_ctx(), question, off_topic, analyse(question, off_topic))
    assert on.scores["relevance"]["score"] > off.scores["relevance"]["score"]


def test_it_takes_communication_points_off_for_filler_words():
    heavy = coach_answer(make_ctx(), QUESTION, FILLER_HEAVY, analyse(QUESTION, FILLER_HEAVY, JD))
    clean = coach_answer(make_ctx(), QUESTION, CLEAN_SAME_CONTENT, analyse(QUESTION, CLEAN_SAME_CONTENT, JD))
    assert heavy.scores["communication"]["score"] < clean.scores["communication"]["score"]
    assert any("filler" in i.lower() for i in heavy.improvements)


def test_it_gives_concrete_strengths_and_improvements():
    good = coach_answer(make_ctx(), QUESTION, GOOD, analyse(QUESTION, GOOD, JD))
    assert any("90%" in s or "STAR" in s for s in good.strengths)
    vague = coach_answer(make_ctx(), QUESTION, VAGUE, analyse(QUESTION, VAGUE, JD))
    assert any("words" in i for i in vague.improvements)
    assert "STAR" in vague.text


def test_it_picks_the_sentence_with_figures_as_specificity_evidence():
    result = coach_answer(make_ctx(), QUESTION, GOOD, analyse(QUESTION, GOOD, JD))
    assert "90%" in result.scores["specificity"]["evidence"]


# ----- the report -----


async def test_it_writes_a_report_with_patterns_strengths_and_focus_areas():
    ctx = make_ctx()
    answered = []
    for text in (GOOD, VAGUE, SHORT, FILLER_HEAVY):
        m = analyse(QUESTION, text, JD, ctx.job_role)
        result = coach_answer(ctx, QUESTION, text, m)
        answered.append(AnsweredQuestion(QUESTION, text, result.scores, m))
    report = await LocalEngine().report(ctx, answered)
    assert "4 answers" in report.patterns
    assert "Filler words" in report.patterns
    assert 2 <= len(report.strengths) <= 4
    assert 2 <= len(report.focus_areas) <= 4
    for area in report.focus_areas:
        assert area["area"] and area["why"]
        assert 2 <= len(area["next_steps"]) <= 3
    assert any("Communication" in a["area"] or "Specificity" in a["area"] for a in report.focus_areas)


async def test_it_still_reports_two_focus_areas_for_a_strong_candidate():
    ctx = make_ctx()
    m = analyse(QUESTION, GOOD, JD, ctx.job_role)
    answered = [AnsweredQuestion(QUESTION, GOOD, coach_answer(ctx, QUESTION, GOOD, m).scores, m)] * 3
    report = await LocalEngine().report(ctx, answered)
    assert len(report.focus_areas) >= 2
    assert len(report.strengths) >= 2


async def test_it_reports_on_an_interview_with_no_answers():
    report = await LocalEngine().report(make_ctx(), [])
    assert report.patterns and len(report.focus_areas) >= 2


# ----- resources -----


def test_it_matches_curated_resources_to_focus_areas():
    found = curated_resources(["Communication: filler words and delivery"], "Backend Engineer")
    assert found[0]["url"].startswith("https://hbr.org/")
    assert all(set(r) == {"title", "url", "why"} and r["url"].startswith("https://") for r in found)
    assert len(curated_resources(["Structure: the STAR method"], "Nurse", limit=3)) == 3


def test_it_includes_role_specific_resources():
    urls = [r["url"] for r in curated_resources(["Role fit"], "Site Reliability Engineer")]
    assert "https://sre.google/sre-book/table-of-contents/" in urls
    nurse_urls = [r["url"] for r in curated_resources(["Role fit"], "Registered Nurse")]
    assert "https://sre.google/sre-book/table-of-contents/" not in nurse_urls


def test_it_has_enough_questions_for_every_role():
    assert len(bank.ROLES) >= 10
    for key, spec in bank.ROLES.items():
        levels = {q.difficulty for q in spec["questions"]}
        assert levels == {"easy", "medium", "hard"}, key
        assert len(spec["questions"]) >= 8, key
    assert MAX_FOLLOW_UPS >= 1


# ----- the acknowledgement that opens a turn (issue 12, section 5) -----

import re  # noqa: E402
from itertools import pairwise  # noqa: E402

from interviews.engine.analysis import sentences_of  # noqa: E402
from interviews.engine.local.interviewer import GESTURES, QUOTE_RE  # noqa: E402
from interviews.engine.prompts import interviewer_messages  # noqa: E402

STYLES = ("formal", "casual", "challenging", "technical")


def quotes_the_candidate(text, ctx_turns):
    """Whether `text` quotes words from a candidate turn among `ctx_turns`."""
    said = [" ".join(t.text.lower().split()) for t in ctx_turns if t.speaker == "candidate"]
    return any(" ".join(q.lower().split()) in a for q in QUOTE_RE.findall(text) for a in said)


def acknowledgement(text):
    """The sentences before the question: what the turn says besides asking."""
    asking = re.compile(r"\s*(?:tell|walk|describe|talk|give|explain|share|take|imagine|suppose|pick|what|how|why|if)\b", re.I)
    head = []
    for s, e in sentences_of(text):
        sentence = text[s:e]
        if sentence.rstrip().endswith("?") or asking.match(sentence):
            break
        head.append(QUOTE_RE.sub('""', sentence))
    return head


def interviewer_turns_with_history(style, seed, answers=ROTATION):
    ctx = make_ctx(style=style, seed=seed, question_count=6)
    turns = simulate(ctx, answers=answers, max_turns=20)
    out, history = [], []
    for turn in ctx.transcript:
        if turn.speaker == "interviewer":
            out.append((turn.text, list(history)))
        history.append(turn)
    return [(decision, text, hist) for (_, decision, text), (_, hist) in zip(turns, out)]


def test_it_does_not_quote_the_candidate_when_its_previous_turn_did():
    ctx = make_ctx()
    say(ctx, Decision(INTRODUCE, "", []), "Hello and welcome. Tell me about a time you improved a slow system.")
    answer(ctx, SHORT)
    phrase = key_phrase(SHORT)
    say(ctx, Decision(FOLLOW_UP, "", []), f'You mentioned "{phrase}". Can you give me a concrete example?')
    answer(ctx, GOOD)
    for seed in range(8):
        ctx.seed = seed
        decision, text = LocalEngine().plan(ctx, {NEW_QUESTION})
        assert decision.action == NEW_QUESTION
        assert not quotes_the_candidate(text, ctx.transcript), text


def test_it_still_quotes_the_candidate_when_its_previous_turn_did_not():
    ctx = thread(QUESTION, GOOD)
    decision, text = LocalEngine().plan(ctx, {NEW_QUESTION})
    assert quotes_the_candidate(text, ctx.transcript), text


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("seed", range(4))
def test_it_never_quotes_the_candidate_in_two_turns_in_a_row_when_it_acknowledges(style, seed):
    acknowledged = 0
    for (_, prev_text, _), (decision, text, history) in pairwise(interviewer_turns_with_history(style, seed)):
        if decision.action not in (NEW_QUESTION, CLOSE):
            continue
        if quotes_the_candidate(prev_text, history):
            assert not quotes_the_candidate(text, history), f"{prev_text!r} then {text!r}"
            acknowledged += 1
    assert acknowledged, "the simulation never acknowledged an answer right after a quoting turn"


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("seed", range(4))
def test_it_does_not_open_an_acknowledgement_the_way_its_previous_turn_opened(style, seed):
    for (_, prev_text, _), (decision, text, _) in pairwise(interviewer_turns_with_history(style, seed)):
        if decision.action in (NEW_QUESTION, CLOSE):
            assert text.lower().split()[:2] != prev_text.lower().split()[:2], f"{prev_text!r} then {text!r}"


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("seed", range(6))
def test_it_thanks_and_moves_on_at_most_once_per_turn(style, seed):
    for decision, text, _ in interviewer_turns_with_history(style, seed, answers=[GOOD, VAGUE, SHORT, GOOD]):
        if decision.action == CLOSE:
            closing = next(c.format(role="Senior Backend Developer") for c in bank.CLOSINGS[style]
                           if text.endswith(c.format(role="Senior Backend Developer")))
            ack = text[: -len(closing)]
            for name, rx in GESTURES.items():
                assert not (rx.search(ack) and rx.search(closing)), f"{name} twice: {text!r}"
            assert not GESTURES["move_on"].search(ack), text
        elif decision.action == NEW_QUESTION:
            head = acknowledgement(text)
            moving = [s for s in head if GESTURES["move_on"].search(s)]
            assert len(moving) <= 1, f"moves on twice: {text!r}"


def test_it_does_not_thank_before_closing_words_that_thank():
    # The reported turn: "Thanks for that, including … Thank you, that brings us to the end".
    for seed in range(12):
        ctx = thread(QUESTION, GOOD, seed=seed)
        decision, text = LocalEngine().plan(ctx, {CLOSE})
        assert decision.action == CLOSE
        first_thanks = [m.start() for m in GESTURES["thanks"].finditer(text)]
        closing = next(c for c in bank.CLOSINGS["formal"] if text.endswith(c.format(role="Senior Backend Developer")))
        assert all(at >= len(text) - len(closing.format(role="Senior Backend Developer")) for at in first_thanks), text


def test_it_gives_the_model_the_same_acknowledgement_rules():
    system = interviewer_messages(thread(QUESTION, GOOD), {NEW_QUESTION, CLOSE})[0][1]
    assert "Quote the candidate's words at most once in a row" in system
    assert "thank the candidate at most once" in system
