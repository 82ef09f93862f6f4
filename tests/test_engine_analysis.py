import json

from interviews.engine.analysis import analyse, filler_counts, find_numbers, key_terms, relevance
from interviews.engine.questions import match_role, resume_items

JD = (
    "We are looking for a Senior Backend Engineer to join our platform team. You will design and build "
    "microservices in Python and Go, running on Kubernetes in AWS. You will own our CI/CD pipelines, improve "
    "observability with Prometheus and Grafana, and take part in incident response. Requirements: 5+ years of "
    "experience with Python, strong SQL and PostgreSQL skills, experience with Terraform and infrastructure as "
    "code, and excellent stakeholder management. You'll also work on payment systems: payment systems "
    "reliability is our top priority, and payment systems experience is a plus."
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


def test_it_finds_curated_and_multi_word_jd_terms():
    terms = key_terms(JD, "Senior Backend Engineer")
    for expected in ("python", "kubernetes", "sql", "ci/cd", "stakeholder management", "infrastructure as code", "go"):
        assert expected in terms
    # A phrase repeated in the advert is picked up even though it isn't in the vocabulary.
    assert "payment systems" in terms


def test_it_leaves_boilerplate_and_stopwords_out_of_jd_terms():
    terms = key_terms(JD)
    for junk in ("we are looking", "years of experience", "experience", "years", "the", "you", "strong", "excellent"):
        assert junk not in terms
    assert all(t == t.lower() for t in terms)


def test_it_returns_jd_terms_deterministically_and_respects_the_limit():
    assert key_terms(JD) == key_terms(JD)
    assert len(key_terms(JD, limit=5)) == 5


def test_it_does_not_mistake_the_verb_go_for_the_language():
    assert "go" not in key_terms("You will go above and beyond to support our Python services and SQL reporting.")


def test_it_matches_jd_terms_in_the_answer_including_aliases_and_word_forms():
    m = analyse(QUESTION, "I moved our services to k8s and set up CI/CD. I managed stakeholders weekly.", JD)
    assert "kubernetes" in m["jd_terms_covered"]
    assert "ci/cd" in m["jd_terms_covered"]
    assert "stakeholder management" in m["jd_terms_covered"]
    assert "terraform" in m["jd_terms_missed"]
    assert set(m["jd_terms_covered"]).isdisjoint(m["jd_terms_missed"])


def test_it_counts_filler_words():
    text = "Um, so basically I, like, fixed it. Uh, you know, it was, like, kind of hard. I mean, it worked, right?"
    fillers = filler_counts(text)
    assert fillers["um"] == 1
    assert fillers["uh"] == 1
    assert fillers["like"] == 2
    assert fillers["basically"] == 1
    assert fillers["you know"] == 1
    assert fillers["kind of"] == 1
    assert fillers["i mean"] == 1
    assert fillers["so"] == 1
    assert fillers["right"] == 1


def test_it_does_not_count_like_as_a_verb_or_preposition():
    text = "I'd like to join your team. I like Python. It worked like a charm, and I would like more of that."
    assert "like" not in filler_counts(text)


def test_it_does_not_count_ordinary_uses_of_kind_of_so_you_know_and_right():
    text = "What kind of team is it? I did it so that we could ship. Do you know the answer? The right person helped."
    assert filler_counts(text) == {}


def test_it_reports_filler_rate_per_hundred_words():
    m = analyse(QUESTION, VAGUE)
    assert m["filler_count"] == sum(m["filler_words"].values()) >= 4
    assert m["filler_rate"] == round(m["filler_count"] * 100 / m["words"], 1)


def test_it_detects_all_star_parts_in_a_good_answer():
    m = analyse(QUESTION, GOOD, JD)
    assert m["star"] == {"situation": True, "task": True, "action": True, "result": True}
    assert m["star_count"] == 4
    assert m["has_outcome"] is True


def test_it_detects_missing_star_parts_in_a_vague_answer():
    m = analyse(QUESTION, VAGUE, JD)
    assert m["star"]["result"] is False
    assert m["star_count"] <= 1
    assert m["has_outcome"] is False


def test_it_extracts_quantities_and_outcomes():
    numbers = find_numbers("We grew revenue by 30%, raised $2M, cut build time to 3 weeks and doubled sign-ups in 2021.")
    assert numbers == ["30%", "$2M", "3 weeks", "doubled"]


def test_it_measures_only_the_first_10000_characters_of_an_answer():
    m = analyse("", "I " + "x" * 10_000 + " and we grew sales by 30%.")
    assert m["words"] == 2 and m["numbers"] == [] and m["we_statements"] == 0


def test_it_measures_ownership_as_i_versus_we():
    assert analyse("", "I built it. I tested it. We shipped it.")["ownership"] == 0.67
    assert analyse("", "We built it and we shipped it.")["ownership"] == 0.0


def test_it_scores_relevance_by_overlap_with_the_question():
    on_topic = "My colleague and I disagreed about the API design. I set up a call, we compared options, and agreed."
    off_topic = "I enjoy cooking and I have run two marathons."
    question = "Describe a conflict you had with a colleague. How did you resolve it?"
    assert relevance(question, on_topic) > relevance(question, off_topic)
    assert relevance(question, off_topic) == 0.0
    assert 0.0 <= relevance(question, on_topic) <= 1.0


def test_it_ignores_the_interviewers_acknowledgement_when_scoring_relevance():
    question = 'Thanks. You mentioned "cooking and marathons". Describe a conflict you had with a colleague.'
    assert relevance(question, "I enjoy cooking and marathons.") == 0.0


def test_it_flags_vague_and_short_answers():
    m = analyse(QUESTION, VAGUE)
    assert {"stuff", "things", "a lot"} <= set(m["vague_phrases"])
    assert m["too_short"] is True
    assert analyse(QUESTION, GOOD)["too_short"] is False
    assert analyse(QUESTION, GOOD)["vague_phrases"] == []


def test_it_computes_words_per_minute_only_with_speaking_time():
    assert analyse(QUESTION, GOOD)["words_per_minute"] is None
    m = analyse(QUESTION, GOOD, speaking_seconds=60)
    assert m["words_per_minute"] == m["words"]


def test_it_returns_json_serialisable_metrics_for_empty_answers():
    m = analyse(QUESTION, "", JD, "Backend Engineer")
    json.dumps(m)
    assert m["words"] == 0 and m["relevance"] == 0.0 and m["too_short"] is True


def test_it_matches_free_text_roles():
    assert match_role("Senior Backend Developer") == "software_engineer"
    assert match_role("Machine Learning Engineer") == "data_scientist"
    assert match_role("Site Reliability Engineer") == "devops"
    assert match_role("Sales Engineer") == "sales"
    assert match_role("Registered Nurse") == "nurse"
    assert match_role("Year 5 Teacher") == "teacher"
    assert match_role("Astronaut") is None


def test_it_turns_resume_bullets_into_speakable_items():
    resume = "Experience\n- Led the migration to Kubernetes, cutting deploy time by 40%\n• Built a fraud pipeline in Kafka\nSkilled in Python."
    assert resume_items(resume) == [
        "leading the migration to Kubernetes, cutting deploy time by 40%",
        "building a fraud pipeline in Kafka",
    ]
