"""Learning resources for the report when web search is off or fails.

A short, hand-picked list of long-standing public pages, matched to focus
areas and the job role by keyword. No network access.
"""

import re

from interviews.engine.questions import match_role

RESOURCES = [
    {
        "title": "The STAR method for behavioral interviews (MIT CAPD)",
        "url": "https://capd.mit.edu/resources/the-star-method-for-behavioral-interviews/",
        "why": "A short guide to structuring answers as situation, task, action and result.",
        "keywords": ("star", "structure", "behavioural", "behavioral", "result", "story", "outcome"),
    },
    {
        "title": "How to use the STAR interview response technique (Indeed)",
        "url": "https://www.indeed.com/career-advice/interviewing/how-to-use-the-star-interview-response-technique",
        "why": "Worked STAR examples, including how to state a measurable result.",
        "keywords": ("star", "structure", "result", "outcome", "specific", "numbers", "measurable"),
    },
    {
        "title": "The STAR interview method (The Muse)",
        "url": "https://www.themuse.com/advice/star-interview-method",
        "why": "How to pick stories and keep the set-up short so your actions stand out.",
        "keywords": ("star", "structure", "relevance", "story", "ownership", "action"),
    },
    {
        "title": "Interview Warmup (Google)",
        "url": "https://grow.google/certificates/interview-warmup/",
        "why": "Free practice questions with feedback on the job-related terms you use.",
        "keywords": ("practice", "role fit", "terms", "requirements", "relevance", "communication"),
    },
    {
        "title": "How to stop saying \"um\", \"ah\" and \"you know\" (Harvard Business Review)",
        "url": "https://hbr.org/2018/08/how-to-stop-saying-um-ah-and-you-know",
        "why": "Practical habits for replacing filler words with pauses.",
        "keywords": ("filler", "communication", "delivery", "pace", "speaking", "clarity"),
    },
    {
        "title": "Toastmasters International",
        "url": "https://www.toastmasters.org/",
        "why": "Regular, low-stakes speaking practice with feedback on delivery.",
        "keywords": ("communication", "filler", "delivery", "confidence", "speaking", "presentation"),
    },
    {
        "title": "Amazon Leadership Principles",
        "url": "https://www.amazon.jobs/content/en/our-workplace/leadership-principles",
        "why": "A widely used checklist of what behavioural questions probe; map a story to each.",
        "keywords": ("behavioural", "behavioral", "ownership", "leadership", "role fit", "stories"),
    },
    {
        "title": "Interview tips (Google Careers)",
        "url": "https://www.google.com/about/careers/applications/interview-tips/",
        "why": "How structured interviews are scored, and how to prepare specific examples.",
        "keywords": ("specific", "specificity", "role fit", "requirements", "preparation", "relevance"),
    },
    {
        "title": "Behavioral interview guide (Tech Interview Handbook)",
        "url": "https://www.techinterviewhandbook.org/behavioral-interview/",
        "why": "Common behavioural questions for technical roles and how to answer them.",
        "keywords": ("software", "engineer", "developer", "behavioural", "behavioral", "structure"),
        "roles": ("software_engineer", "devops", "data_scientist"),
    },
    {
        "title": "System Design Primer",
        "url": "https://github.com/donnemartin/system-design-primer",
        "why": "A free, thorough primer for system design and architecture questions.",
        "keywords": ("system design", "architecture", "scalability", "technical", "depth"),
        "roles": ("software_engineer", "devops"),
    },
    {
        "title": "Site Reliability Engineering (Google, free online)",
        "url": "https://sre.google/sre-book/table-of-contents/",
        "why": "The reference on SLOs, incident response and postmortems.",
        "keywords": ("sre", "reliability", "incident", "monitoring", "slos", "devops", "technical"),
        "roles": ("devops",),
    },
    {
        "title": "Kubernetes tutorials",
        "url": "https://kubernetes.io/docs/tutorials/",
        "why": "Official hands-on tutorials for the platform many infrastructure roles ask about.",
        "keywords": ("kubernetes", "k8s", "containers", "devops", "infrastructure"),
        "roles": ("devops",),
    },
    {
        "title": "Kaggle Learn",
        "url": "https://www.kaggle.com/learn",
        "why": "Short, free courses in Python, pandas, machine learning and SQL.",
        "keywords": ("machine learning", "python", "data", "pandas", "statistics", "technical"),
        "roles": ("data_scientist", "data_analyst"),
    },
    {
        "title": "SQLBolt",
        "url": "https://sqlbolt.com/",
        "why": "Interactive SQL lessons to sharpen the queries analysts are asked about.",
        "keywords": ("sql", "data", "queries", "analysis", "technical"),
        "roles": ("data_analyst", "data_scientist"),
    },
    {
        "title": "The official Python tutorial",
        "url": "https://docs.python.org/3/tutorial/",
        "why": "The authoritative walk-through of the language.",
        "keywords": ("python", "programming", "technical"),
    },
    {
        "title": "Atlassian Agile Coach",
        "url": "https://www.atlassian.com/agile",
        "why": "Clear guides to agile, scrum, kanban and project management practice.",
        "keywords": ("agile", "scrum", "kanban", "project", "delivery", "prioritisation", "planning"),
        "roles": ("project_manager", "product_manager", "software_engineer"),
    },
    {
        "title": "Nielsen Norman Group articles",
        "url": "https://www.nngroup.com/articles/",
        "why": "Research-based UX articles to ground design answers in evidence.",
        "keywords": ("ux", "design", "usability", "user research", "accessibility"),
        "roles": ("designer", "product_manager"),
    },
    {
        "title": "HubSpot Academy",
        "url": "https://academy.hubspot.com/",
        "why": "Free courses on inbound marketing, sales and customer service.",
        "keywords": ("marketing", "sales", "customer", "crm", "content", "campaigns"),
        "roles": ("marketing", "sales", "customer_support"),
    },
    {
        "title": "Google Skillshop",
        "url": "https://skillshop.withgoogle.com/",
        "why": "Free training and certificates for Google Ads and Analytics.",
        "keywords": ("marketing", "analytics", "ads", "seo", "sem", "campaigns"),
        "roles": ("marketing",),
    },
    {
        "title": "Edutopia",
        "url": "https://www.edutopia.org/",
        "why": "Classroom-tested strategies for behaviour, differentiation and assessment.",
        "keywords": ("teaching", "classroom", "lesson", "assessment", "students"),
        "roles": ("teacher",),
    },
]


def _words(text):
    return " " + re.sub(r"[^a-z0-9]+", " ", (text or "").lower()) + " "


def curated_resources(focus_areas, job_role, limit=6):
    """Up to `limit` resources as [{"title", "url", "why"}], best match first.

    focus_areas may be area names or the report's focus-area dicts.
    """
    areas = [a.get("area", "") + " " + a.get("why", "") if isinstance(a, dict) else str(a) for a in focus_areas or []]
    area_text = _words(" ".join(areas))
    role_key = match_role(job_role or "")
    role_text = _words(job_role)
    scored = []
    for index, res in enumerate(RESOURCES):
        score = 0
        for kw in res["keywords"]:
            needle = _words(kw)
            score += 2 * area_text.count(needle) + role_text.count(needle)
        if role_key and role_key in res.get("roles", ()):
            score += 2
        elif res.get("roles") and not score:
            continue  # a role-specific page with nothing else in its favour
        scored.append((score, index, res))
    scored.sort(key=lambda x: (-x[0], x[1]))
    return [{"title": r["title"], "url": r["url"], "why": r["why"]} for _, _, r in scored[:limit]]
