"""Simulated candidates of known quality, for `manage.py simulate_interview`.

Each persona is a set of canned answers (plain data below) that fit the
behavioural questions of most roles. An answer is a str.format template with
these fields, filled in for the question being answered:

    {echo}   the question itself (question_core): the strong candidate restates
             it before answering, as interview coaches advise
    {gist}   two or three of the question's own words: the average candidate
             names the subject but not all of what was asked
    {term1} {term2} {term3}
             job-description terms, the ones the question asks about first

Quality, by construction:

- strong: complete STAR stories (situation, task, action, result) with
  measured outcomes, "I" rather than "we", three job-description terms,
  reasons ("because"), no filler words, no vague wording;
- average: relevant and fluent but with a vague outcome (no figures, no
  result), mostly "we", one job-description term, one vague phrase and a
  couple of filler words;
- weak: one short sentence, vague and filler-heavy, no terms, no story.

The harness picks main answers by the question's number and follow-up answers
by the follow-up's number, both rotated by the seed.
"""

import re
from dataclasses import dataclass

from interviews.engine.analysis import (
    QUESTION_NOISE,
    STOPWORDS,
    display_term,
    key_terms,
    question_core,
    term_in,
)
from interviews.engine.questions import match_role


@dataclass(frozen=True)
class Persona:
    name: str
    summary: str
    answers: tuple  # to main questions (the introduction's included)
    follow_ups: tuple  # to follow-up questions


STRONG = Persona(
    name="strong",
    summary="STAR stories with measured results, first-person ownership and the job's terms",
    answers=(
        'You asked: "{echo}" In my previous role, a release I owned was slipping by three weeks '
        "and the client was watching. My task was to get it back on track without lowering quality. I mapped the remaining work, "
        "I split it into small pieces and I put {term1} at the centre of the plan, because that was where the risk "
        "sat. I then set up a short daily check-in, used {term2} to track progress and brought in {term3} where it "
        "saved time. As a result I shipped on the original date, defects fell by 40% and the client renewed a "
        "£200k contract. I learned to make trade-offs visible early, and I still plan that way.",

        'You asked: "{echo}" In my last role I disagreed with a senior colleague about how to approach {term1}. '
        "My goal was to settle it on evidence rather than opinion, because the decision affected six months of "
        "work. I proposed a two-week trial of both options, I defined the measures with him up front and I "
        "presented the data to the team, including how {term2} and {term3} would change under each option. "
        "His option won on one measure and mine on two, so I combined them. As a result our error rate dropped "
        "by 35%, and he asked me to run the next review the same way.",

        'You asked: "{echo}" At my previous company I made a mistake in a report on {term1} that went to the '
        "leadership team with a figure 12% too high. I was responsible for the numbers, so I owned it. I told "
        "my manager within the hour, I wrote a correction that explained the cause, and I then added an "
        "automated check built on {term2} and a peer review step using {term3}. Since then that check has caught "
        "nine errors before release, and review time fell by 20% because reviewers trust the inputs. I learned "
        "that reporting a mistake fast costs far less than hiding it.",

        'You asked: "{echo}" In my previous role I noticed that a weekly process around {term1} took me and two '
        "colleagues six hours every Friday. Nobody had asked me to change it, but my goal was to win that time "
        "back for customers. I analysed where the hours went, I automated the data gathering with {term2} and I wrote a "
        "one-page guide on {term3} for the team. The process went from six hours to 45 minutes, errors fell by "
        "60%, and I trained two colleagues to maintain it. The lesson for me was to measure the waste before "
        "proposing a fix, because numbers win support quickly.",

        'You asked: "{echo}" At my last job I worked with a stakeholder who was unhappy with every update on '
        "{term1} and escalated twice in a month. My task was to rebuild trust without promising what we could "
        "not deliver. I met her one to one, I mapped her three real concerns and I agreed a fortnightly review "
        "that showed {term2} and {term3} in plain language. I also escalated one risk early, because I wanted her to "
        "hear it from me first. As a result her satisfaction score went from 55% to 90% in one quarter, and she later sponsored "
        "my proposal for the next phase.",

        'You asked: "{echo}" In my current role a new teammate was struggling and missing deadlines in her first '
        "month. I was asked to help her get up to speed, because I knew the work around {term1} best. I paired "
        "with her for an hour each day, I wrote a checklist covering {term2} and {term3}, and I reviewed her work "
        "before it went out. Within six weeks she was working independently, her rework rate dropped by 50%, and "
        "we halved onboarding time for the two people who joined after her. I learned that a clear checklist "
        "helps more than long explanations.",

        'You asked: "{echo}" In my previous role I had to decide on a plan for {term1} with half the information '
        "missing, because the deadline was fixed by a regulator. My task was to choose a safe option within "
        "two days. I listed what we knew, I ranked the unknowns by impact and I tested the riskiest assumption "
        "with a small pilot that used {term2}. I then wrote down the decision and the trigger that would make me "
        "change it, and I shared it with the {term3} leads. We met the deadline, the pilot cut processing time by "
        "30%, and the decision held when the full data arrived.",
    ),
    follow_ups=(
        'You asked: "{echo}" At the time the hardest part was {term1}. My task was to fix it without delaying '
        "everything else, because two teams depended on it. I broke it into steps, I tested each one and I "
        "documented the result alongside {term2} and {term3}. As a result the issue was resolved in four days "
        "instead of two weeks, and the same approach cut similar incidents by 25% that year.",

        'You asked: "{echo}" In my last role I would change one decision: I would involve the people using {term1} '
        "earlier, because their feedback came late. My goal next time would be a first review in week one. I did "
        "run a retrospective afterwards, I added {term2} to the plan template and I shared it with the {term3} "
        "group. The next project using that template finished 15% under budget, and I learned to test "
        "assumptions with users first.",

        'You asked: "{echo}" The stakes were high at the time, and my responsibility was the final call on '
        "{term1}. I weighed speed against quality, I wrote both options down with their costs and I chose the "
        "slower one because it protected {term2}. I explained the trade-off to the {term3} leads the same day. "
        "The result was a launch one week later than planned, but with 70% fewer support requests in the first "
        "month.",
    ),
)

AVERAGE = Persona(
    name="average",
    summary="relevant and fluent, but vague outcomes, mostly \"we\", few terms",
    answers=(
        "When it comes to {gist}, I'd think of a project at my last job. We had a release that was behind and "
        "we needed to get it done. We sat down as a team, basically went through the list together and "
        "worked out what to drop. I helped with the planning and kept an eye on {term1}. It was a busy few "
        "weeks, actually, but we got there and people seemed happy with how things went.",

        "When it comes to {gist}, there was a time a colleague and I didn't agree on the approach for {term1}. "
        "We had different ideas and we needed to pick one. We talked it through in a couple of meetings and "
        "I explained my side, and he explained his. We basically met in the middle, actually, and it was fine "
        "after that. Our working relationship stayed good and the project carried on pretty much as planned.",

        "When it comes to {gist}, at my previous job there was a problem with a report on {term1}. We had to "
        "sort it out quickly. We looked into it as a team, and I talked to my manager about it. We basically "
        "fixed the numbers and sent out a new version, actually. It was a bit stressful but it was okay, and "
        "we were more careful with things after that.",

        "When it comes to {gist}, our team had a manual process that took quite long every week. We wanted to "
        "make it easier. We talked about it, and I suggested using {term1} for part of it. We basically "
        "changed how we did the weekly steps, actually, and it felt quicker. People liked it and we kept "
        "doing it that way, and it was a good experience for the team overall.",

        "When it comes to {gist}, there was a stakeholder who was not happy with our updates on {term1}. We "
        "needed to keep her on side. We had a few calls with her, and I tried to listen to what she wanted. "
        "We basically sent her more regular updates, actually, and explained things in simpler terms. It got "
        "better over time and the relationship was okay by the end of the project.",

        "When it comes to {gist}, a new person joined our team and was finding the work hard. We wanted to "
        "help her settle in. I showed her how we handle {term1} and we shared some notes with her. We "
        "basically checked in with her now and then, actually, and answered her questions. She got more "
        "confident over the next while, and the team was happy with how she was getting on.",
    ),
    follow_ups=(
        "On {gist}, it went fine overall, I think. We got it over the line and the feedback was mostly "
        "positive, and people seemed happy with it. I was the one keeping the list up to date and chasing "
        "people, and we basically talked it through as a group each week. It was a team effort more than "
        "anything, and we all helped.",

        "On {gist}, my part was mostly the coordination. We split the work between us and I kept track of "
        "where everyone was with {term1}. We basically met a few times to check progress, and I raised "
        "anything that looked stuck. It worked out well enough in the end, and we were happy with how the "
        "team handled it.",

        "On {gist}, I'd probably do it a bit differently now. We could have planned more at the start and "
        "talked to people sooner. I think we basically learned to check in earlier, and I try to do that more "
        "now. It wasn't a big problem in the end, and the team moved on to the next piece of work fine.",
    ),
)

WEAK = Persona(
    name="weak",
    summary="short, vague and filler-heavy",
    answers=(
        "Um, yeah, it was, like, stuff and things, you know.",
        "Uh, basically we just kind of dealt with it, you know.",
        "Um, like, it was a lot of stuff, and, uh, whatever.",
        "Yeah, um, basically things were kind of fine, you know.",
        "Uh, like, we sort of sorted it out somehow, I guess.",
        "Um, I mean, stuff happened and, like, it worked out.",
    ),
    follow_ups=(
        "Um, not really, it was, like, just things, you know.",
        "Uh, I mean, basically the usual stuff, you know.",
        "Um, like, I don't remember, it was sort of whatever.",
    ),
)

PERSONAS = {p.name: p for p in (STRONG, AVERAGE, WEAK)}
RANKED = ("strong", "average", "weak")  # best first: the order the coach must reproduce

# A job description per kind of role, so answers can use (or miss) the job's terms.
JOB_DESCRIPTIONS = {
    "software_engineer": (
        "We are hiring a {role} to build and run our Python and Django services. You will design REST APIs, "
        "model data in PostgreSQL, write unit testing suites, and ship through CI/CD with Docker and Kubernetes "
        "on AWS. You care about performance, monitoring and code review, and you mentor other engineers."
    ),
    "data_analyst": (
        "We are hiring a {role} to turn data into decisions. You will write SQL, build dashboards in Tableau, "
        "run data analysis in Python and Excel, and present findings to stakeholders. You will own reporting "
        "for our KPIs, improve data quality, and support A/B testing with sound statistics."
    ),
    "data_scientist": (
        "We are hiring a {role} to build machine learning models in Python with pandas and scikit-learn. You "
        "will run experimentation and A/B testing, apply statistics, build data pipelines with Airflow and SQL, "
        "and explain results to stakeholders. Experience with monitoring models in production is a plus."
    ),
    "product_manager": (
        "We are hiring a {role} to own the product strategy and roadmap for our SaaS platform. You will run "
        "user research, define KPIs and OKRs, lead prioritisation with engineering and design, and manage "
        "stakeholders across sales and support. You will use analytics and A/B testing to decide what to build."
    ),
    "project_manager": (
        "We are hiring a {role} to deliver cross-functional projects on time and on budget. You will own "
        "project management from planning to delivery, run agile and scrum ceremonies in Jira, lead risk "
        "management and budget management, and handle stakeholder management with clear communication."
    ),
    "devops": (
        "We are hiring a {role} to run our Kubernetes platform on AWS. You will manage infrastructure as code "
        "with Terraform, build CI/CD pipelines, own monitoring with Prometheus and Grafana, define SLOs and "
        "lead incident response. Strong Linux, networking and security skills are needed."
    ),
    "customer_support": (
        "We are hiring a {role} to look after our customers. You will handle tickets in Zendesk, resolve "
        "problems with clear communication, escalate product issues, and improve customer experience and "
        "customer satisfaction. You will work with product teams and keep our CRM up to date."
    ),
    "sales": (
        "We are hiring a {role} to grow our B2B SaaS revenue. You will own prospecting and lead generation, "
        "run pipeline management in Salesforce, handle negotiation with buyers, and grow accounts through "
        "account management. Clear presentation and communication skills matter."
    ),
    "marketing": (
        "We are hiring a {role} to grow our audience. You will plan campaigns across SEO, content marketing, "
        "email marketing and social media, manage budgeting across channels, and report results with Google "
        "Analytics. You will run experimentation to improve conversion and keep the brand voice consistent."
    ),
    "nurse": (
        "We are hiring a {role} for a busy surgical ward. You will deliver patient care and write care plans, "
        "manage medication administration, follow infection control, and protect patient safety through "
        "triage and clear communication with the clinical team and families. Safeguarding training is required."
    ),
    "teacher": (
        "We are hiring a {role} for Key Stage 3 and 4. You will lead lesson planning and curriculum design, "
        "use assessment to guide teaching, provide differentiation for special educational needs, and keep "
        "strong behaviour management and classroom management. Pastoral care and safeguarding are part of the role."
    ),
    "designer": (
        "We are hiring a {role} to shape our product's user experience. You will run user research and "
        "usability testing, create wireframes and prototyping in Figma, build and maintain design systems, "
        "and make sure every screen meets accessibility standards. You will collaborate with product and engineering."
    ),
}
GENERIC_JOB_DESCRIPTION = (
    "We are hiring a {role}. You will need clear communication, stakeholder management and problem solving. "
    "You will plan work with project management and prioritisation, track KPIs with reporting and data "
    "analysis, collaborate with cross-functional teams, and improve customer experience."
)


def job_description_for(role):
    """A job description that fits the role title (a generic one for titles we don't know)."""
    key = match_role(role)
    return JOB_DESCRIPTIONS.get(key, GENERIC_JOB_DESCRIPTION).format(role=role or "team member")


_RUN_BREAK = re.compile(r"[^A-Za-z'\-/+#]+")


def gist(question, fallback="that"):
    """Two or three of the question's own content words, e.g. "tight deadline"."""
    best, run = [], []
    for chunk in re.split(r"[,.;:!?()\"]", question_core(question)):
        run = []
        for word in chunk.split():
            w = _RUN_BREAK.sub("", word)
            low = w.lower()
            if len(low) > 2 and low not in STOPWORDS and low not in QUESTION_NOISE:
                run.append(w)
                if len(run) > len(best):
                    best = list(run)
                if len(run) == 3:
                    run = []
            else:
                run = []
    return " ".join(best).lower() if best else fallback


def terms_for(question, job_description, job_role):
    """Job-description terms to mention, those the question asks about first (display spelling).

    Terms that are just the role title ("backend" for a Backend Engineer) are left out:
    naming them says nothing.
    """
    terms = key_terms(job_description, job_role) if (job_description or "").strip() else []
    terms = [t for t in terms if not term_in(t, job_role or "")]
    core = question_core(question)
    ordered = [t for t in terms if term_in(t, core)] + [t for t in terms if not term_in(t, core)]
    shown = [display_term(t) for t in ordered[:3]]
    while len(shown) < 3:
        shown.append(("clear communication", "careful planning", "regular reviews")[len(shown)])
    return shown


def render(template, question, job_description="", job_role="", topic=""):
    """A canned answer filled in for `question`."""
    t1, t2, t3 = terms_for(question, job_description, job_role)
    # What was asked: the turn without its greeting or acknowledgement.
    echo = re.sub(r"\s+", " ", question_core(question)).strip() or (topic or "that question")
    return template.format(echo=echo, gist=gist(question, fallback=topic or "that"), term1=t1, term2=t2, term3=t3)


def answer_for(persona, question, *, main_index, follow_up_index=None, seed=0, job_description="", job_role="", topic=""):
    """The persona's answer to `question`: the main_index-th main answer, or, for a follow-up,
    its follow_up_index-th follow-up answer (both rotated by the seed)."""
    if isinstance(persona, str):
        persona = PERSONAS[persona]
    if follow_up_index is None:
        pool, i = persona.answers, main_index
    else:
        pool, i = persona.follow_ups, main_index + follow_up_index
    template = pool[(i + seed) % len(pool)]
    return render(template, question, job_description, job_role, topic)
