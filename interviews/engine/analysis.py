"""Deterministic answer analysis: the measurements every coach is checked against.

Nothing here calls a model, so the same answer always gets the same metrics,
whichever engine writes the narrative. Everything returned is plain JSON.
"""

import re
from bisect import bisect_left
from collections import Counter
from functools import lru_cache

# Every measurement here is linear in its text, but it still runs for every
# turn of every candidate on shared CPU, so the text it reads is bounded too.
# One answer is at most the answer box's limit; follow-up planning reads an
# answer and its follow-ups together (at most three answers); a job
# description is at most the set-up form's limit. Text beyond a cap (an older
# row, a model's reply) is not measured.
MAX_ANSWER_CHARS = 10_000
MAX_JOINED_ANSWERS_CHARS = 3 * MAX_ANSWER_CHARS
MAX_QUESTION_CHARS = MAX_ANSWER_CHARS
MAX_JOB_DESCRIPTION_CHARS = 20_000

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down
    during each either else etc even ever every few for from further get gets got had hadn't has hasn't have
    haven't having he he'd he'll he's her here here's hers herself him himself his how how's however i i'd
    i'll i'm i've if in into is isn't it it's its itself just let's like may me might more most much must
    mustn't my myself need needs no nor not now of off often on once one only or other others ought our ours
    ourselves out over own per quite rather really same shall shan't she she'd she'll she's should shouldn't
    so some such than that that's the their theirs them themselves then there there's these they they'd
    they'll they're they've this those though through thus to too under until up upon us very via was
    wasn't we we'd we'll we're we've were weren't what what's when when's where where's whether which while
    who who's whom whose why why's will with within without won't would wouldn't yet you you'd you'll
    you're you've your yours yourself yourselves across along among around etc e.g i.e plus well within
    """.split()
)

# Words that fill job adverts and questions but say nothing about the skill asked for.
GENERIC_WORDS = frozenset(
    """
    ability able ad apply applicant applicants applications benefits best bonus candidate candidates
    company competitive culture day degree desired duties environment equal excellent experience
    experienced ideal including job join key knowledge level looking location new nice offer opportunity
    opportunities plus position preferred proven required requirements responsibilities responsible role
    salary skills skill strong successful team teams track record understanding want work working world
    years year great good etc including various within across related relevant must will help based
    highly passionate ensure make use using provide support help across multiple ideally minimum remote
    hybrid office full time part us our you your we join growing fast-paced paced exciting dynamic
    candidate's employer opportunity employee employees benefit package holiday holidays pension
    """.split()
)

BOILERPLATE_PHRASES = (
    "we are looking",
    "we're looking",
    "looking for",
    "years of experience",
    "year of experience",
    "the ideal candidate",
    "ideal candidate",
    "you will",
    "you'll",
    "join our team",
    "equal opportunity",
    "equal opportunities",
    "competitive salary",
    "nice to have",
    "ability to",
    "proven track record",
    "track record",
    "fast-paced environment",
    "fast paced environment",
    "about us",
    "about the role",
    "what you'll do",
    "what we offer",
)

# Skills and tools worth matching exactly; multi-word ones first so they win over their parts.
SKILL_VOCAB = (
    # engineering
    "python", "java", "javascript", "typescript", "go", "golang", "rust", "c++", "c#", "ruby", "php",
    "kotlin", "swift", "scala", "sql", "nosql", "postgresql", "mysql", "mongodb", "redis", "kafka",
    "graphql", "rest api", "rest apis", "apis", "api", "microservices", "distributed systems",
    "system design", "react", "angular", "vue", "node.js", "django", "flask", "fastapi", "spring",
    ".net", "html", "css", "git", "linux", "unit testing", "testing", "test automation", "code review",
    "ci/cd", "continuous integration", "continuous delivery", "docker", "kubernetes", "terraform",
    "ansible", "aws", "azure", "gcp", "google cloud", "cloud", "serverless", "infrastructure as code",
    "monitoring", "observability", "prometheus", "grafana", "incident response", "incident management",
    "on-call", "reliability", "slos", "performance", "scalability", "security", "devops", "sre",
    "networking", "bash", "debugging", "architecture", "mobile", "ios", "android", "frontend", "backend",
    # data
    "machine learning", "deep learning", "statistics", "statistical modelling", "statistical modeling",
    "data analysis", "data visualisation", "data visualization", "data modelling", "data modeling",
    "data pipelines", "data engineering", "etl", "a/b testing", "experimentation", "forecasting",
    "nlp", "computer vision", "pytorch", "tensorflow", "scikit-learn", "pandas", "numpy", "spark",
    "airflow", "dbt", "snowflake", "bigquery", "tableau", "power bi", "looker", "excel", "r",
    "dashboards", "reporting", "analytics", "llms", "generative ai",
    # product, design, delivery
    "product management", "product strategy", "roadmap", "roadmaps", "user research", "usability testing",
    "user experience", "ux", "ui", "figma", "sketch", "prototyping", "wireframes", "design systems",
    "accessibility", "interaction design", "visual design", "agile", "scrum", "kanban", "jira",
    "project management", "programme management", "program management", "risk management",
    "budget management", "budgeting", "stakeholder management", "stakeholders", "prioritisation",
    "prioritization", "requirements gathering", "okrs", "kpis", "metrics", "go-to-market",
    # business, people
    "leadership", "mentoring", "coaching", "communication", "presentation", "negotiation",
    "problem solving", "problem-solving", "collaboration", "cross-functional", "customer service",
    "customer success", "customer experience", "crm", "salesforce", "hubspot", "zendesk", "sales",
    "lead generation", "pipeline management", "account management", "b2b", "b2c", "saas", "prospecting",
    "cold calling", "seo", "sem", "ppc", "content marketing", "social media", "email marketing",
    "digital marketing", "brand", "copywriting", "google analytics", "campaigns", "market research",
    # care, education
    "patient care", "patient safety", "medication administration", "clinical", "triage", "infection control",
    "care plans", "safeguarding", "lesson planning", "classroom management", "curriculum", "assessment",
    "differentiation", "special educational needs", "sen", "pastoral care", "behaviour management",
)

# Other ways candidates say the same thing; a JD term counts as covered if any is used.
ALIASES = {
    "kubernetes": ("k8s",),
    "postgresql": ("postgres",),
    "machine learning": ("ml",),
    "javascript": ("js",),
    "typescript": ("ts",),
    "golang": ("go",),
    "ci/cd": ("cicd", "ci cd", "continuous integration", "continuous delivery", "pipeline", "pipelines"),
    "a/b testing": ("a/b test", "a/b tests", "ab test", "ab testing", "split test", "experiment", "experiments"),
    "aws": ("amazon web services",),
    "gcp": ("google cloud",),
    "user experience": ("ux",),
    "prioritisation": ("prioritization", "prioritise", "prioritize", "prioritised", "prioritized"),
    "prioritization": ("prioritisation", "prioritise", "prioritize", "prioritised", "prioritized"),
    "data visualisation": ("data visualization", "visualisation", "visualization", "dashboard", "dashboards"),
    "data visualization": ("data visualisation", "visualisation", "visualization", "dashboard", "dashboards"),
    "stakeholders": ("stakeholder",),
    "kpis": ("kpi",),
    "okrs": ("okr",),
    "llms": ("llm", "large language model", "large language models"),
    "slos": ("slo", "service level objective", "service level objectives"),
}

# Words that share a concept, so a "disagreement" answer is relevant to a "conflict" question.
CONCEPTS = (
    ("conflict", "disagre", "disput", "tension", "clash", "argu", "friction"),
    ("colleagu", "teammat", "coworker", "co-work", "peer", "team"),
    ("fail", "mistak", "error", "setback", "wrong"),
    ("deadlin", "time pressur", "tight timelin", "due", "late"),
    ("custom", "client", "user"),
    ("lead", "led", "leadership", "manag"),
    ("priorit", "trade-off", "tradeoff"),
    ("feedback", "critic", "review"),
    ("stakeholder", "sponsor", "executiv"),
    ("learn", "lesson", "taught"),
    ("chang", "transit", "shift"),
    ("improv", "better", "optimi", "increas", "reduc", "drop", "fell", "faster", "cut"),
    ("perform", "latenc", "speed", "fast", "slow", "throughput", "timeout", "timing"),
    ("system", "servic", "platform", "applicat", "app", "infrastructur"),
    ("motivat", "excit", "passion", "enjoy", "interest", "love"),
    ("strength", "good at", "best at", "skill"),
    ("weakness", "improv", "struggl", "work on"),
    # Screening questions are answered in other words: "salary expectations?" "Around 55k base."
    ("salar", "pay", "compensat", "package", "earn", "remunerat", "base", "rang"),
    ("expect", "look", "hope", "hoping", "aim", "target"),
    ("notic", "start", "availab", "leav", "join"),
)

FILLER_WORDS = (
    "um", "uh", "like", "you know", "basically", "actually", "sort of", "kind of",
    "literally", "i mean", "so", "right",
)

VAGUE_PHRASES = (
    "stuff", "things", "a lot", "lots of", "etc", "and so on", "and so forth", "whatever", "somehow",
    "or something", "something like that", "various", "pretty much", "more or less", "all that",
    "some things", "in general",
)

STAR_CUES = {
    "situation": (
        r"\bwhen i was\b", r"\bat my (?:previous|last|current|old|first)\b", r"\bin my (?:previous|last|current|first) (?:role|job|company|team|position)\b",
        r"\bwe were\b", r"\bthere was\b", r"\bthe situation\b", r"\bthe context\b", r"\bbackground\b",
        r"\bour team (?:was|had)\b", r"\blast (?:year|month|quarter)\b", r"\ba (?:few|couple of) (?:years|months) ago\b",
        r"\bwhile (?:i was )?working\b", r"\bat the time\b", r"\bthe problem was\b", r"\bback in\b",
        r"\bduring my\b", r"\bin (?:19|20)\d\d\b", r"\bi (?:was )?work(?:ed|ing) (?:at|as|on|for)\b", r"\bone time\b",
        r"\bwe had\b", r"\bthe issue was\b", r"\bthe company (?:was|had)\b",
    ),
    "task": (
        r"\bmy task\b", r"\bi was responsible\b", r"\bi was asked\b", r"\bmy (?:role|job) was\b", r"\bthe goal was\b",
        r"\bour goal\b", r"\bmy goal\b", r"\bneeded to\b", r"\bhad to\b", r"\bthe challenge was\b",
        r"\bmy responsibility\b", r"\bi was tasked\b", r"\bobjective\b", r"\bdeadline\b", r"\bthe aim\b",
        r"\bi was in charge\b", r"\bi owned\b", r"\bwanted to\b", r"\bin order to\b",
    ),
    "action": (
        r"\b(?:i|we)\s+(?:then\s+|also\s+|quickly\s+|first\s+|personally\s+|immediately\s+)?(?:decided|built|created|led|implemented|designed|wrote|organi[sz]ed|set up|analy[sz]ed|introduced|worked with|reached out|met with|talked|spoke|proposed|negotiated|automated|migrated|refactored|coordinated|trained|ran|launched|prioriti[sz]ed|started|changed|fixed|added|developed|investigated|presented|scheduled|delegated|mentored|asked|convinced|rewrote|redesigned|tested|interviewed|gathered|mapped|drafted|escalated|called|explained|created|wrote|replaced|moved|split|broke|paired|documented|reviewed|rolled out|shipped)\b",
        r"\bwhat i did\b", r"\bmy approach\b", r"\bthe first thing i\b", r"\bi took\b", r"\bi made sure\b",
        r"\bso i\b", r"\bi then\b",
    ),
    "result": (
        r"\bas a result\b", r"\bresult(?:ed|s)?\b", r"\bled to\b", r"\bthe outcome\b", r"\bin the end\b",
        r"\bended up\b", r"\breduc(?:ed|ing)\b", r"\bincreas(?:ed|ing)\b", r"\bimproved\b", r"\bsaved\b",
        r"\bcut\b", r"\bgrew\b", r"\bdelivered\b", r"\bon time\b", r"\bachieved\b", r"\bwe won\b",
        r"\d\s?%", r"\bpercent\b", r"\bi learned\b", r"\bi learnt\b", r"\bthe feedback was\b", r"\bwent from\b",
        r"\bdropped\b", r"\bdoubled\b", r"\btripled\b", r"\bhalved\b", r"\bsucceeded\b", r"\bsuccessfully\b",
        r"\bwhich meant\b", r"\bafterwards\b", r"\bsince then\b", r"\blesson\b", r"\bshipped\b", r"\blaunched\b",
        r"\bresolved\b", r"\bsolved\b", r"\bfell\b", r"\bwent down\b", r"\bwent up\b",
    ),
}


def _literal_first(cue):
    r"""`\bwhen i was\b` as `when i was(?<!\wwhen i was)\b`: the same matches,
    found by a fast scan for the leading words (see _term_re)."""
    m = re.match(r"\\b([a-z ]+)", cue)
    if not m:
        return cue
    words = m.group(1)
    return words + r"(?<!\w" + words + ")" + cue[m.end():]


STAR_RES = {part: [re.compile(_literal_first(p)) for p in cues] for part, cues in STAR_CUES.items()}

# A situational ("what would you do if…") answer is a plan, not a story: what
# the candidate would do, in what order, why, and how they would know it worked.
PLAN_CUES = {
    "actions": (
        r"\bi would\b", r"\bi'd\b", r"\bi will\b", r"\bi'll\b", r"\bmy first step\b", r"\bi'm going to\b",
        r"\bi would want\b", r"\bmy plan\b",
    ),
    "order": (
        r"\bfirst\b", r"\bfirstly\b", r"\bto start\b", r"\bthen\b", r"\bnext\b", r"\bafter that\b", r"\bsecond\b",
        r"\bsecondly\b", r"\bfinally\b", r"\bonce\b", r"\bbefore\b", r"\bstep\b", r"\bimmediately\b", r"\bright away\b",
    ),
    "reasons": (
        r"\bbecause\b", r"\bso that\b", r"\bin order to\b", r"\bthe reason\b", r"\bwhich means\b", r"\bthat way\b",
        r"\botherwise\b", r"\bto make sure\b", r"\bto avoid\b", r"\bthe risk\b", r"\bsince\b", r"\bmy priority\b",
        r"\bthe priority\b", r"\bmatters most\b", r"\bthe trade-off\b", r"\bdepends on\b",
    ),
    "follow_through": (
        r"\bfollow up\b", r"\bfollow-up\b", r"\bcheck in\b", r"\bcheck back\b", r"\bcheck that\b", r"\bcheck whether\b",
        r"\breview\b", r"\bmeasure\b", r"\bmonitor\b", r"\bconfirm\b", r"\bafterwards\b", r"\bdebrief\b",
        r"\bif that didn't\b", r"\bif that doesn't\b", r"\bif it didn't\b", r"\bif it doesn't\b", r"\bif not\b",
        r"\bescalate\b", r"\bto see if\b", r"\bto see whether\b", r"\bsuccess would\b", r"\bsuccess looks\b",
        r"\bdocument\b", r"\blesson\b", r"\blessons\b",
    ),
}
PLAN_RES = {part: [re.compile(_literal_first(p)) for p in cues] for part, cues in PLAN_CUES.items()}

_NUMBER_WORDS = r"(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|hundred|a hundred|a thousand|a dozen|dozens of|hundreds of|thousands of)"
_UNITS = (
    r"(?:%|percent|per cent|x\b|times\b|k\b|m\b|bn\b|million|billion|thousand|hours?|days?|weeks?|months?|years?|"
    r"minutes?|seconds?|ms\b|milliseconds?|people|users|customers|clients|engineers|developers|members|"
    r"students|pupils|patients|tickets|deals|accounts|leads|sales|requests|servers|services|teams|projects|"
    r"stores|sites|countries|languages|points|calls|bugs|incidents|releases|features|reports|dashboards|"
    r"applications|downloads|subscribers|visitors|orders|transactions|pages|stars|lines)"
)
# A figure: a digit, then digits, separators and decimals, bounded (no real
# figure is longer). A pattern like `\d[\d,.]*` followed by a unit, retried
# from every digit of "1,1,1,…", is quadratic; instead figures are found once
# each (finditer never restarts inside one) and the unit after each is checked
# with an anchored match.
_FIGURE_RE = re.compile(r"\b\d[\d,.]{0,30}")
_PERCENT_AFTER_RE = re.compile(r"\s?(?:%|percent\b|per cent\b)", re.I)
_UNIT_AFTER_RE = re.compile(r"\s?" + _UNITS, re.I)
# Bounded repeats: an attempt from any position costs a few dozen steps at most.
_MONEY_RE = re.compile(r"[$£€]\s?\d[\d,.]{0,30}\s?(?:k|m|bn|b|million|billion|thousand)?\b", re.I)
_COUNTED_RE = re.compile(r"\b" + _NUMBER_WORDS + r"\s{1,10}" + _UNITS, re.I)
_MULTIPLIED_RE = re.compile(r"\b(?:doubled|tripled|quadrupled|halved)\b", re.I)
# Figures that show an effect, as opposed to a duration or a head-count.
OUTCOME_NUMBER_RE = re.compile(r"[$£€%]|percent|per cent|\bx\b|times\b|doubled|tripled|quadrupled|halved|million|billion|\bk\b|\bm\b|bn\b", re.I)

_WORD_RE = re.compile(r"[a-z0-9][a-z0-9'&+#./-]*", re.I)
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[.,!?;:]")
_SENTENCE_RE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)", re.M)

SINGULAR = ("i", "i'm", "i've", "i'd", "i'll", "me", "my", "myself", "mine")
PLURAL = ("we", "we're", "we've", "we'd", "we'll", "us", "our", "ours", "ourselves")

# Words every question uses; they say nothing about what the answer should be about.
QUESTION_NOISE = frozenset(
    """
    tell describe time times example examples walk through give share talk explain situation would could
    did do you your yours what how why when where which who part role specific specifically approach
    think thought feel felt mean want like describe recent recently moment ever talk us me going handle
    handled deal dealt case kind type sort particular something anything thing things mentioned résumé
    resume say said way ways let one bit more detail details across further most best piece
    """.split()
)


def _norm(text):
    return (text or "").replace("\u2019", "'").replace("\u2018", "'").lower()


def words_of(text):
    """The words of `text`, lower-cased, with trailing punctuation removed."""
    return [w.strip(".-/") for w in _WORD_RE.findall(_norm(text)) if w.strip(".-/")]


def stem(word):
    """A crude suffix-stripping stem, enough to match "managed" with "management"."""
    word = word.lower().strip("'")
    if word.endswith("'s"):
        word = word[:-2]
    for suffix in ("ements", "ement", "ations", "ation", "ities", "ity", "ingly", "ings", "ing", "ied", "ies",
                   "edly", "ers", "er", "ed", "ly", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def _concepts(stems):
    found = set()
    for group in CONCEPTS:
        if any(s.startswith(prefix) for s in stems for prefix in group):
            found.add(group[0])
    return found


# Whole-word patterns start with the term and look behind it afterwards
# ("python(?<!\wpython)", not "(?<!\w)python"): the regex engine finds a
# leading literal with a fast scan, but tries a leading lookbehind at every
# position of the text, which is far slower on a long one.
# Terms that are ordinary words in lower case: only the capitalised spelling names the skill.
CASE_SENSITIVE = {"go": re.compile(r"Go(?<![\w-]Go)(?![\w-])"), "r": re.compile(r"R(?<![\w&-]R)(?![\w&-])")}


@lru_cache(maxsize=1024)
def _term_re(term):
    term = re.escape(term)
    return re.compile(term + r"(?<!\w" + term + r")(?!\w)")


def _find_term(term, text):
    """Whether `term` occurs in `text` (original case, so "Go" is not "go ahead")."""
    if term in CASE_SENSITIVE:
        return bool(CASE_SENSITIVE[term].search(text or ""))
    return bool(_term_re(term).search(_norm(text)))


# Longest terms first, so they claim their span before their parts.
_VOCAB_RES = sorted(((term, _term_re(term)) for term in SKILL_VOCAB), key=lambda tr: -len(tr[0]))


class _Spans:
    """Character positions already claimed by a match: a lookup costs the
    match's length, not the number of earlier matches."""

    def __init__(self, length):
        self.taken = bytearray(length)

    def claim(self, start, end):
        """Claim [start, end) unless any of it is taken; whether it was claimed."""
        if self.taken.find(1, start, end) != -1:
            return False
        self.taken[start:end] = b"\x01" * (end - start)
        return True


def _vocab_hits(text):
    """{term: (count, first position)} for curated terms, longest terms claiming their span first."""
    original, text = text or "", _norm(text)
    spans = _Spans(max(len(original), len(text)))
    hits = {}
    for term, rx in _VOCAB_RES:
        for m in (CASE_SENSITIVE[term].finditer(original) if term in CASE_SENSITIVE else rx.finditer(text)):
            if not spans.claim(m.start(), m.end()):
                continue
            count, first = hits.get(term, (0, m.start()))
            hits[term] = (count + 1, min(first, m.start()))
    return hits


def _phrase_counts(text):
    """Frequent noun-phrase-like n-grams: runs of non-stopword tokens, 1 to 3 words long."""
    text = _norm(text)
    for phrase in BOILERPLATE_PHRASES:
        text = text.replace(phrase, " | ")
    counts, first = Counter(), {}
    pos = 0
    for chunk in re.split(r"[,.;:!?()\[\]\n•|/]+", text):
        run = []
        for w in re.findall(r"[a-z][a-z+#-]*", chunk):
            if w in STOPWORDS or w in GENERIC_WORDS or len(w) < 3:
                if run:
                    _count_ngrams(run, counts, first, pos)
                    pos += 1
                run = []
            else:
                run.append(w)
        if run:
            _count_ngrams(run, counts, first, pos)
            pos += 1
    return counts, first


def _count_ngrams(run, counts, first, pos):
    for n in (1, 2, 3):
        for i in range(len(run) - n + 1):
            gram = " ".join(run[i : i + n])
            counts[gram] += 1
            first.setdefault(gram, pos)


# How terms are written when the interviewer says them.
DISPLAY = {
    "go": "Go", "r": "R", "sql": "SQL", "nosql": "NoSQL", "aws": "AWS", "gcp": "GCP", "api": "API", "apis": "APIs",
    "rest api": "REST API", "rest apis": "REST APIs", "ci/cd": "CI/CD", "etl": "ETL", "nlp": "NLP", "ux": "UX", "ui": "UI",
    "crm": "CRM", "seo": "SEO", "sem": "SEM", "ppc": "PPC", "kpis": "KPIs", "okrs": "OKRs", "slos": "SLOs", "sre": "SRE",
    "b2b": "B2B", "b2c": "B2C", "saas": "SaaS", "llms": "LLMs", "html": "HTML", "css": "CSS", "ios": "iOS",
    "a/b testing": "A/B testing", "power bi": "Power BI", "dbt": "dbt", "sen": "SEN", "devops": "DevOps",
    "postgresql": "PostgreSQL", "mysql": "MySQL", "mongodb": "MongoDB", "graphql": "GraphQL", "javascript": "JavaScript",
    "typescript": "TypeScript", "node.js": "Node.js", "github": "GitHub", "fastapi": "FastAPI", "pytorch": "PyTorch",
    "tensorflow": "TensorFlow", "bigquery": "BigQuery", "hubspot": "HubSpot", "google analytics": "Google Analytics",
    "google cloud": "Google Cloud", ".net": ".NET", "c#": "C#", "c++": "C++",
}
PROPER = frozenset(
    "python java ruby php kotlin swift scala kafka redis django flask react angular vue docker kubernetes terraform "
    "ansible azure prometheus grafana linux spark airflow snowflake tableau looker excel figma sketch jira salesforce "
    "zendesk pandas numpy spring bash git scrum kanban agile android".split()
)


def display_term(term):
    """A term as it is normally written: "SQL", "Kubernetes", "stakeholder management"."""
    if term in DISPLAY:
        return DISPLAY[term]
    if term in PROPER:
        return term.capitalize()
    return term


def term_in(term, text):
    """Whether `term` is named in `text`, as a whole word."""
    return _find_term(term, text)


def skill_terms(text):
    """The curated skills and tools `text` mentions, in order of first mention."""
    hits = _vocab_hits(text)
    return sorted(hits, key=lambda t: hits[t][1])


def key_terms(job_description, job_role="", limit=25):
    """The job description's key skills and terms, most important first, lower-case."""
    return list(_key_terms((job_description or "")[:MAX_JOB_DESCRIPTION_CHARS], (job_role or "")[:MAX_JOB_DESCRIPTION_CHARS], limit))


# Repeated phrases considered as terms, most frequent first. Each is checked
# against every term chosen before it, so this bounds a square; real job
# descriptions have far fewer.
MAX_PHRASE_CANDIDATES = 300


# The engine asks for the same description's terms several times per turn.
@lru_cache(maxsize=128)
def _key_terms(jd, job_role, limit):
    hits = _vocab_hits(jd)
    for term, (count, _) in _vocab_hits(job_role or "").items():
        # The role title names what matters most, so its terms rank first.
        prev = hits.get(term, (0, 0))
        hits[term] = (prev[0] + count + 2, -1)
    ranked = sorted(hits, key=lambda t: (-hits[t][0], hits[t][1], t))
    terms = list(ranked)

    counts, first = _phrase_counts(jd)
    vocab_words = {w for t in terms for w in t.split()}
    candidates = []
    for gram, count in counts.items():
        words = gram.split()
        # Single words must recur to count; a repeated phrase is a strong signal on its own.
        if (len(words) == 1 and count < 3) or (len(words) > 1 and count < 2):
            continue
        if set(words) <= vocab_words or gram in hits:
            continue
        candidates.append((gram, count))
    candidates.sort(key=lambda gc: (-gc[1], -len(gc[0].split()), first[gc[0]], gc[0]))
    for gram, _ in candidates[:MAX_PHRASE_CANDIDATES]:
        if any(gram in t.split() or gram in t for t in terms):
            continue
        if any(len(gram.split()) == 1 and gram in t.split() for t in terms):
            continue
        terms.append(gram)
    # A single word that is part of a chosen multi-word term adds nothing.
    multi = [t for t in terms if " " in t]
    terms = [t for t in terms if " " in t or not any(t in m.split() for m in multi)]
    return tuple(terms[:limit])


def term_covered(term, answer_text, answer_stems=None):
    """Whether the answer uses `term`, an alias of it, or (for phrases) all its word stems."""
    if _find_term(term, answer_text):
        return True
    if any(_find_term(alias, answer_text) for alias in ALIASES.get(term, ())):
        return True
    text = _norm(answer_text)
    if answer_stems is None:
        answer_stems = {stem(w) for w in words_of(text)}
    parts = [w for w in re.findall(r"[a-z0-9+#]+", term) if w not in STOPWORDS]
    return len(parts) > 1 and all(stem(p) in answer_stems for p in parts)


def sentences_of(text):
    """(start, end) spans of the sentences of `text`, trimmed; exact slices of the original."""
    spans = []
    for m in _SENTENCE_RE.finditer(text or ""):
        start, end = m.start(), m.end()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end and re.search(r"\w", text[start:end]):
            spans.append((start, end))
    return spans


# A sentence that asks something, after at most a short lead-in ("My next question: Describe…").
QUESTION_START_RE = re.compile(
    r"\s*(?:[^:.!?\n]{1,40}:\s*)?(?:tell|walk|describe|talk|give|explain|share|take|imagine|suppose|pick)\b", re.I
)


def question_core(question):
    """The part of an interviewer turn that asks something, without greetings or acknowledgements."""
    spans = sentences_of(question)
    picked = [question[s:e] for s, e in spans if question[s:e].rstrip().endswith("?")
              or QUESTION_START_RE.match(question[s:e])]
    return " ".join(picked) if picked else (question or "")


def content_stems(text, noise=QUESTION_NOISE):
    return {stem(w) for w in set(words_of(text)) if w not in STOPWORDS and w not in noise and len(w) > 2 and not w.isdigit()}


def _prefix_test(stems):
    """A test of whether a stem of 4+ letters starts with a word, or the word
    starts with one: through sorted order and the stems' lengths, since
    comparing pair by pair is quadratic in a long answer."""
    long = sorted(x for x in stems if len(x) >= 4)
    known, lengths = set(long), {len(x) for x in long}

    def shares_prefix(word):
        i = bisect_left(long, word)
        # The stems that start with `word` sort right after it.
        if i < len(long) and long[i].startswith(word):
            return True
        return any(word[:n] in known for n in lengths if n <= len(word))

    return shares_prefix


def relevance(question, answer):
    """How much of what the question asks about the answer talks about, 0..1."""
    q = content_stems(question_core(question))
    if not q:
        return 1.0 if words_of(answer) else 0.0
    a = content_stems(answer, noise=frozenset())
    shares_prefix = _prefix_test(a)
    direct = {s for s in q if s in a or (len(s) >= 4 and shares_prefix(s))}
    q_concepts, a_concepts = _concepts(q - direct), _concepts(a)
    # Count a question word as covered when the answer names the same concept in other words.
    concept_hits = sum(1 for s in q - direct if _concepts({s}) & a_concepts) if q_concepts else 0
    return round(min(1.0, (len(direct) + concept_hits) / len(q)), 2)


def _tokens(text):
    return _TOKEN_RE.findall(_norm(text))


_NOT_FILLER_LIKE_BEFORE = frozenset(
    "i'd i you we they he she would 'd you'd we'd they'd don't didn't do does did really look looks looked "
    "feel feels felt seem seems seemed sound sounds sounded something anything nothing exactly more much "
    "people things just also would've always never to".split()
)
_OBJECT_AFTER = frozenset(
    "a an the this that these those to it them him her me us you my our your their what how when something "
    "someone anyone anything this that working being".split()
)
_DETERMINERS = frozenset("what this that the a any some every different another which same".split())


_UM_RE = re.compile(r"u+m+|e+r+m+|h+m+")
_UH_RE = re.compile(r"u+h+|e+h+|a+h+")
_SOFT_OPENER_RE = re.compile(r"u+m+|u+h+|e+r+m+|well|okay|ok|yeah|oh")


def _opens_sentence(toks, i):
    """Whether toks[i] starts a sentence, ignoring "um," "well," and the like before it."""
    j = i - 1
    while j >= 0 and (toks[j] == "," or _SOFT_OPENER_RE.fullmatch(toks[j])):
        j -= 1
    return j < 0 or toks[j] in ".!?"


def filler_counts(text):
    """{filler: count}, counting "like", "you know", "right", "so" only where they are fillers."""
    toks = _tokens(text)
    found = Counter()
    n = len(toks)

    def at(i):
        return toks[i] if 0 <= i < n else None

    for i, tok in enumerate(toks):
        if tok in ".,!?;:":
            continue  # punctuation is never a filler itself
        prev, nxt = at(i - 1), at(i + 1)
        sentence_start = prev is None or prev in ".!?"
        if _UM_RE.fullmatch(tok):
            found["um"] += 1
        elif _UH_RE.fullmatch(tok):
            found["uh"] += 1
        elif tok in ("basically", "actually", "literally"):
            found[tok] += 1
        elif tok == "like":
            if prev == "," or nxt == "," or sentence_start:
                found["like"] += 1
            elif prev in _NOT_FILLER_LIKE_BEFORE or nxt in _OBJECT_AFTER:
                continue
            elif prev in ("was", "is", "were", "had", "have", "just", "um", "uh", "and", "but", "so", "it's", "there's") \
                    or (nxt and (nxt.isdigit() or nxt in ("two", "three", "four", "five", "ten", "twenty", "fifty", "hundred"))):
                found["like"] += 1
        elif tok == "know" and prev == "you":
            before = at(i - 2)
            if nxt in (",", ".", "?", "!", None) or before in (",", None, ".", "!", "?") and nxt not in _OBJECT_AFTER | {"how", "about", "if", "whether", "who", "where", "why"}:
                if before not in ("do", "did", "if", "would", "as", "don't", "didn't", "'d", "you'd", "to"):
                    found["you know"] += 1
        elif tok == "of" and prev in ("sort", "kind"):
            if at(i - 2) not in _DETERMINERS:
                found[prev + " of"] += 1
        elif tok == "mean" and prev == "i":
            if at(i - 2) not in ("what", "that's", "which") and nxt != "to":
                found["i mean"] += 1
        elif tok == "so" and _opens_sentence(toks, i):
            found["so"] += 1
        elif tok == "right":
            if nxt == "?" or (sentence_start and nxt == ",") or (prev == "," and nxt in (",", ".", "?", None)):
                found["right"] += 1
    return {w: found[w] for w in FILLER_WORDS if found[w]}


def _star(text):
    low = _norm(text)
    return {part: any(rx.search(low) for rx in res) for part, res in STAR_RES.items()}


def _plan(text):
    low = _norm(text)
    return {part: any(rx.search(low) for rx in res) for part, res in PLAN_RES.items()}


def _figures_followed_by(text, after_re):
    for m in _FIGURE_RE.finditer(text):
        after = after_re.match(text, m.end())
        if after:
            yield m.start(), after.end()


def _matches(text, rx):
    return (m.span() for m in rx.finditer(text))


def find_numbers(text):
    """Quantities and outcomes in the order they appear, e.g. ["30%", "$2M", "3 weeks", "doubled"]."""
    text = text or ""
    # Earlier kinds win where two overlap: "$5 million" is money, not "5 million".
    found = (
        _matches(text, _MONEY_RE),
        _figures_followed_by(text, _PERCENT_AFTER_RE),
        _figures_followed_by(text, _UNIT_AFTER_RE),
        _matches(text, _COUNTED_RE),
        _matches(text, _MULTIPLIED_RE),
    )
    taken = _Spans(len(text))
    spans = [(s, e) for kind in found for s, e in kind if taken.claim(s, e)]
    return [text[s:e].strip() for s, e in sorted(spans)]


_VAGUE_RES = [(p, _term_re(p)) for p in VAGUE_PHRASES]


def vague_phrases(text):
    low = _norm(text)
    return [p for p, rx in _VAGUE_RES if rx.search(low)]


def analyse(question, answer, job_description="", job_role="", speaking_seconds=None, max_chars=MAX_ANSWER_CHARS):
    """Deterministic metrics for one answer (its first `max_chars` characters)."""
    answer = (answer or "")[:max_chars]
    question = (question or "")[:MAX_QUESTION_CHARS]
    words = words_of(answer)
    n_words = len(words)
    n_sentences = len(sentences_of(answer))
    fillers = filler_counts(answer)
    filler_total = sum(fillers.values())
    star = _star(answer)
    plan = _plan(answer)
    numbers = find_numbers(answer)
    outcome_numbers = [x for x in numbers if OUTCOME_NUMBER_RE.search(x)]
    tokens = _tokens(answer)
    singular = sum(1 for t in tokens if t in SINGULAR)
    plural = sum(1 for t in tokens if t in PLURAL)
    terms = key_terms(job_description, job_role) if (job_description or "").strip() else []
    answer_stems = {stem(w) for w in set(words)}
    covered = [t for t in terms if term_covered(t, answer, answer_stems)]
    wpm = None
    if speaking_seconds and speaking_seconds > 0:
        wpm = round(n_words / (speaking_seconds / 60), 1)
    return {
        "words": n_words,
        "sentences": n_sentences,
        "words_per_minute": wpm,
        "filler_words": fillers,
        "filler_count": filler_total,
        "filler_rate": round(filler_total * 100 / n_words, 1) if n_words else 0.0,
        "star": star,
        "star_count": sum(star.values()),
        "plan": plan,
        "plan_count": sum(plan.values()),
        "numbers": numbers,
        "has_outcome": bool(star["result"] or outcome_numbers),
        "ownership": round(singular / (singular + plural), 2) if singular + plural else 0.0,
        "i_statements": singular,
        "we_statements": plural,
        "jd_terms_covered": covered,
        "jd_terms_missed": [t for t in terms if t not in covered],
        "relevance": relevance(question, answer) if n_words else 0.0,
        "vague_phrases": vague_phrases(answer),
        "too_short": n_words < 40,
    }


# A silence this long between two words is a pause to think, not speech: the
# same threshold the live turn detector uses for an answer's thinking time.
THINKING_PAUSE_SECONDS = 1.0


def speaking_and_thinking(words, pause=THINKING_PAUSE_SECONDS):
    """(speaking, thinking) seconds of a recording from its word times
    ([word, start, end] each): speech is the words and the short gaps between
    them; every gap of `pause` or more is thinking time, so pace measures
    only the talking. Rounded to 0.01 s; (0.0, 0.0) without usable times."""
    speaking = thinking = 0.0
    last_end = None
    for item in words:
        try:
            start, end = float(item[1]), float(item[2])
        except (TypeError, ValueError, IndexError):
            continue
        if not (0 <= start <= end) or (last_end is not None and start < last_end):
            continue  # out of order or impossible: skip rather than guess
        gap = 0.0 if last_end is None else start - last_end
        if gap >= pause:
            thinking += gap
        else:
            speaking += gap
        speaking += end - start
        last_end = end
    return round(speaking, 2), round(thinking, 2)
