"""The built-in interviewer's material: questions, introductions, transitions, follow-ups, closings.

Plain data, a role matcher and the test for questions that ask for a story. Templates use str.format fields:
{role}, {company}, {at_company}, {question}, {phrase}, {term}, {item}, {vague}.
"""

import re
from typing import NamedTuple

from interviews.engine.analysis import question_core


# The kinds of role a generic question fits. A role has the kinds of its family
# (ROLES[...]["kinds"]), plus people-management when its title says it leads people.
ANY = ("any",)
PROJECT_WORK = "project-work"  # knowledge work run as projects: scope, stakeholders, deliverables


class Question(NamedTuple):
    text: str
    topic: str
    difficulty: str  # easy, medium, hard
    fits: tuple = ANY  # kinds of role it fits; "any" fits every role


def Q(text, topic, difficulty="medium", fits=ANY):
    return Question(text, topic, difficulty, tuple(fits))


# Asked first, inside the introduction: background and motivation.
OPENING = [
    Q("Could you walk me through your background and what brings you to this {role} role?", "background", "easy"),
    Q("To start, tell me a little about yourself and the work you're most proud of so far.", "background", "easy"),
    Q("What drew you to this {role} position{at_company}, and how does it fit with where your career is going?", "motivation", "easy"),
    Q("Give me the short version of your career so far, and the one experience that best prepares you for this role.", "background", "medium"),
    Q("In two minutes, why are you the right person for this {role} role? Make the case with evidence.", "motivation", "hard"),
]

MOTIVATION = [
    Q("What motivates you most in your work, and when did you last feel that at its strongest?", "motivation", "easy"),
    Q("Why are you looking to move on from your current or most recent role?", "motivation", "easy"),
    Q("What do you know about {company_or_us}, and what makes you want to work here rather than somewhere similar?", "motivation", "medium"),
    Q("Where do you want to be in three years, and how does this role help you get there?", "career goals", "easy"),
    Q("What would your last manager say is the area you most need to develop, and what are you doing about it?", "self-awareness", "medium"),
    Q("Which part of this role do you expect to find hardest, and why?", "self-awareness", "hard"),
    Q("What kind of team and manager bring out your best work? Give me an example.", "work style", "medium"),
    Q("Tell me about a skill you taught yourself recently. Why that one, and how did you go about it?", "learning", "medium"),
]

BEHAVIOURAL = [
    Q("Tell me about a time you worked to a tight deadline. How did you decide what to cut or keep?", "deadlines", "medium"),
    Q("Describe a disagreement you had with a colleague. How did you handle it, and what happened?", "conflict", "medium"),
    Q("Tell me about a project that failed or went badly. What was your part in it, and what did you learn?", "failure", "medium", fits=(PROJECT_WORK, "finance")),
    Q("Give me an example of a time you led others without formal authority.", "leadership", "hard"),
    Q("Tell me about a time you had more work than you could handle. How did you prioritise?", "prioritisation", "easy"),
    Q("Describe a time you received difficult feedback. What did you do with it?", "feedback", "easy"),
    Q("Tell me about a time you had to make a decision with incomplete information.", "ambiguity", "hard"),
    Q("Describe a time you changed someone's mind. How did you persuade them?", "influence", "medium"),
    Q("Tell me about something you improved without being asked to.", "initiative", "easy"),
    Q("Tell me about a mistake you made at work. How did you find out, and what did you do next?", "mistakes", "medium"),
    Q("Describe working with a difficult stakeholder or customer. What did you do to make it work?", "stakeholders", "medium", fits=(PROJECT_WORK, "customer-facing", "sales", "finance")),
    Q("Tell me about a time your priorities changed suddenly. How did you adapt?", "change", "easy"),
    Q("Tell me about the hardest problem you've solved at work. Why was it hard?", "problem solving", "hard"),
    Q("Give me an example of helping a struggling teammate. What did you do, and what changed?", "teamwork", "easy"),
    Q("Tell me about a time you pushed back on a manager or senior leader. What happened?", "courage", "hard"),
    Q("Tell me about a time you went out of your way for someone who depended on you. What did you do?", "service", "easy"),
    Q("Tell me about a time you had to stay calm under real pressure. What did you do to keep going?", "resilience", "medium"),
    Q("Tell me about a time you managed someone who was underperforming. What did you do, and how did it end?", "performance management", "hard", fits=("people-management",)),
    Q("Describe a time you had to deliver an unpopular decision to your team. How did you handle it?", "leading a team", "medium", fits=("people-management",)),
    Q("Tell me about someone you hired or developed who grew a lot. What was your part in it?", "developing people", "medium", fits=("people-management",)),
]

SITUATIONAL = [
    Q("Imagine you join and find the main project is already two weeks behind. What do you do in your first week?", "delivery", "medium", fits=(PROJECT_WORK,)),
    Q("Suppose two senior stakeholders ask you for conflicting things on the same day. How do you handle it?", "stakeholders", "medium", fits=(PROJECT_WORK, "finance")),
    Q("If a teammate kept missing commitments that affected your work, how would you approach it?", "teamwork", "easy"),
    Q("Imagine you discover a serious error in work you delivered last month that nobody has noticed. What do you do?", "integrity", "medium", fits=(PROJECT_WORK, "finance")),
    Q("Suppose you're given a goal with no clear way to measure success. How would you define it?", "ambiguity", "hard", fits=(PROJECT_WORK,)),
    Q("If you were asked to deliver twice the scope with the same team and deadline, what would you do?", "negotiation", "hard", fits=(PROJECT_WORK,)),
    Q("Imagine your manager is unavailable and a customer needs a decision today. How do you decide?", "judgement", "medium", fits=("customer-facing", "sales")),
    Q("How would you approach your first 30 days in this role?", "onboarding", "easy"),
    Q("Suppose you strongly disagree with a decision that's already been made. What do you do?", "disagreement", "hard"),
    Q("If you had to learn an unfamiliar tool in a week for a deliverable, how would you go about it?", "learning", "easy", fits=(PROJECT_WORK,)),
    Q("Imagine two people each need something urgent from you and you can only finish one today. What would you do?", "prioritisation", "easy"),
    Q("Suppose you realise a mistake you made is being blamed on a colleague. What would you do?", "integrity", "medium"),
    Q("Imagine it's your first week and you're unsure how something important is done, and nobody seems to have time to show you. What do you do?", "onboarding", "easy"),
    Q("Suppose a colleague you trust tells you they've seen someone breaking an important rule at work. What would you do?", "ethics", "hard"),
    Q("If a colleague was clearly struggling and it was starting to affect everyone else, how would you handle it?", "teamwork", "medium"),
    # The role families' own scenarios.
    Q("Imagine you notice a colleague about to give a patient the wrong dose during a busy shift. What would you do?", "medication safety", "medium", fits=("healthcare",)),
    Q("Suppose a patient refuses a treatment their doctor says they need. How would you handle it?", "consent", "medium", fits=("healthcare",)),
    Q("Imagine your ward is two staff short at the start of a night shift. How would you prioritise the care?", "staffing", "hard", fits=("healthcare",)),
    Q("Suppose a patient's relative asks you for information you're not allowed to share. What would you say?", "confidentiality", "easy", fits=("healthcare",)),
    Q("Imagine a student tells you something that makes you worried about their safety at home. What would you do?", "safeguarding", "medium", fits=("education",)),
    Q("Suppose half the class fails an assessment you thought they were ready for. What would you do next?", "assessment", "medium", fits=("education",)),
    Q("If a usually quiet student became disruptive in every lesson, how would you approach it?", "behaviour", "easy", fits=("education",)),
    Q("Imagine a parent emails the head to complain about your marking before talking to you. What would you do?", "parents", "hard", fits=("education",)),
    Q("Imagine a big deal you've forecast for this quarter goes silent two weeks before the end. What would you do?", "forecasting", "hard", fits=("sales",)),
    Q("Suppose a customer asks for a discount you're not allowed to give. How would you handle it?", "negotiation", "medium", fits=("sales",)),
    Q("Imagine a customer is shouting at you about a mistake that wasn't yours. What would you do?", "de-escalation", "easy", fits=("customer-facing",)),
    Q("If you couldn't solve a customer's problem and they asked for your manager, how would you handle it?", "escalation", "medium", fits=("customer-facing",)),
    Q("Imagine you find a discrepancy in the accounts the day before the month-end deadline. What would you do?", "month-end", "medium", fits=("finance",)),
    Q("Suppose a senior manager asks you to record an expense in a way you think is wrong. How would you respond?", "ethics", "hard", fits=("finance",)),
    Q("Imagine a release you shipped an hour ago is causing errors for some users. What do you do first?", "incidents", "medium", fits=("software",)),
    Q("Suppose you're asked to add a feature to code nobody on the team understands any more. How would you go about it?", "legacy code", "medium", fits=("software",)),
    Q("Imagine one of your team is underperforming and it's starting to affect the others. What would you do?", "performance management", "hard", fits=("people-management",)),
    Q("If two people on your team stopped working together after a disagreement, how would you handle it?", "conflict", "medium", fits=("people-management",)),
]

# A recruiter's screening call: motivation, "why us", salary, notice period, practicalities.
SCREEN = [
    Q("What are your salary expectations for this role?", "salary expectations", "easy"),
    Q("What is your notice period, and when could you start?", "notice period", "easy"),
    Q("Why do you want to work at {company_or_us} in particular, rather than somewhere similar?", "why us", "medium"),
    Q("What do you know about {company_or_us} and what we do?", "company knowledge", "medium"),
    Q("Why are you looking for a new role at the moment?", "motivation", "easy"),
    Q("What are you looking for in your next role that you don't have now?", "motivation", "easy"),
    Q("Are you interviewing anywhere else at the moment, and how far along are those processes?", "other processes", "medium"),
    Q("Which working pattern suits you, on site, hybrid or remote, and does the location work for you?", "working pattern", "easy"),
    Q("Do you have the right to work here, or would you need visa sponsorship?", "right to work", "easy"),
    Q("In a couple of sentences, why is this {role} role the right next step for you?", "motivation", "medium"),
    Q("Which hours or shift patterns can you work?", "availability", "easy"),
    Q("What would you need from us to accept an offer?", "offer", "hard"),
    Q("Give me a two-minute summary of your current responsibilities.", "current role", "easy"),
    Q("What is the one thing you would bring to {company_or_us} that other candidates might not?", "why you", "hard"),
]

# Asked once, in the closing phase of a time-based interview.
WRAP_UP = [
    Q("Before we finish: is there anything about your experience we haven't covered that matters for this role?", "wrap-up", "easy"),
    Q("As a final question, if you joined {company_or_us}, what would you want to have achieved in your first 90 days?", "wrap-up", "medium"),
    Q("Last one from me: looking back at today's answers, which example best shows how you'd work here, and why?", "wrap-up", "medium"),
    Q("To close, what would make you turn this role down if it were offered, and what would make you say yes?", "wrap-up", "hard"),
]

ROLES = {
    "software_engineer": {
        "label": "software engineer",
        "kinds": ("software", PROJECT_WORK),
        "aliases": ("software", "developer", "engineer", "programmer", "backend", "back-end", "back end", "frontend",
                    "front-end", "front end", "full stack", "full-stack", "fullstack", "web developer", "mobile developer",
                    "ios", "android", "swe", "sde", "coder", "tech lead", "staff engineer", "principal engineer"),
        "questions": [
            Q("How do you decide when code is ready to ship? Walk me through your testing approach on a recent change.", "testing", "easy"),
            Q("Tell me about a bug that was hard to track down. How did you find the root cause?", "debugging", "medium"),
            Q("Describe a code review where you disagreed with the reviewer or the author. How was it resolved?", "code review", "easy"),
            Q("Walk me through the architecture of a system you built. What would you change now?", "architecture", "medium"),
            Q("How would you design a URL shortener that serves a hundred million redirects a day?", "system design", "hard"),
            Q("Tell me about a time you paid down technical debt. How did you justify the time?", "technical debt", "medium"),
            Q("Describe a performance problem you fixed. How did you measure before and after?", "performance", "hard"),
            Q("How do you make a database schema change on a busy production system without downtime?", "databases", "hard"),
            Q("What's a technical decision you made that turned out to be wrong, and how did you recover?", "trade-offs", "medium"),
            Q("How do you keep an API backwards compatible while it evolves?", "api design", "hard"),
        ],
    },
    "data_scientist": {
        "label": "data scientist",
        "kinds": ("software", "data", PROJECT_WORK),
        "aliases": ("data scientist", "data science", "machine learning", "ml engineer", "ai engineer", "research scientist",
                    "applied scientist", "mlops", "nlp", "computer vision", "statistician"),
        "questions": [
            Q("Walk me through a model you built end to end, from the business question to deployment.", "modelling", "medium"),
            Q("How do you choose an evaluation metric for a classification problem with imbalanced classes?", "evaluation", "medium"),
            Q("Tell me about a time your analysis changed a business decision.", "impact", "easy"),
            Q("How would you explain overfitting to a non-technical stakeholder, and how do you guard against it?", "communication", "easy"),
            Q("Describe an A/B test you designed. How did you choose the sample size and handle peeking?", "experimentation", "hard"),
            Q("A model that performed well offline underperforms in production. How do you investigate?", "monitoring", "hard"),
            Q("Tell me about messy data you had to clean. What decisions did you make, and why?", "data quality", "easy"),
            Q("When would you choose a simple model over a more accurate complex one?", "trade-offs", "medium"),
            Q("How do you detect and respond to data drift in a deployed model?", "mlops", "hard"),
        ],
    },
    "product_manager": {
        "label": "product manager",
        "kinds": ("product", "software", PROJECT_WORK),
        "aliases": ("product manager", "product owner", "product lead", "head of product", "pm", "product management",
                    "group product manager", "technical product manager"),
        "questions": [
            Q("Tell me about a product or feature you launched. How did you decide it was worth building?", "discovery", "easy"),
            Q("How do you prioritise a roadmap when sales, engineering and leadership all want different things?", "prioritisation", "medium"),
            Q("Describe a time you killed a feature or project. How did you make and communicate that call?", "decision making", "hard"),
            Q("What metrics would you use to judge the success of a new onboarding flow, and why those?", "metrics", "medium"),
            Q("Tell me about a time user research changed your mind about what to build.", "user research", "easy"),
            Q("How do you work with engineers when an estimate is much larger than expected?", "collaboration", "medium"),
            Q("A key metric dropped 15% overnight. Walk me through how you'd investigate.", "analytics", "hard"),
            Q("How would you decide whether to build, buy or partner for a capability you need?", "strategy", "hard"),
        ],
    },
    "designer": {
        "label": "designer",
        "kinds": ("design", PROJECT_WORK),
        "aliases": ("designer", "design", "ux", "ui", "user experience", "interaction design", "product design",
                    "visual design", "researcher", "ux research"),
        "questions": [
            Q("Walk me through a project in your portfolio, from the problem to the final design.", "portfolio", "easy"),
            Q("Tell me about a design decision you defended with research or data.", "research", "medium"),
            Q("How do you handle feedback from a stakeholder that you think would make the design worse?", "stakeholders", "medium"),
            Q("How do you make sure your designs are accessible? Give a specific example.", "accessibility", "medium"),
            Q("Describe a usability test that surprised you. What did you change?", "usability testing", "easy"),
            Q("How would you approach building a design system for a product with inconsistent screens?", "design systems", "hard"),
            Q("Tell me about a time you had to balance user needs against a hard business or technical constraint.", "trade-offs", "hard"),
            Q("How do you decide how much fidelity a prototype needs?", "prototyping", "easy"),
        ],
    },
    "data_analyst": {
        "label": "data analyst",
        "kinds": ("data", PROJECT_WORK),
        "aliases": ("data analyst", "analyst", "business analyst", "bi analyst", "business intelligence", "reporting analyst",
                    "insights", "analytics"),
        "questions": [
            Q("Tell me about an analysis you did that led to a concrete decision.", "impact", "easy"),
            Q("How do you check that a number in your dashboard is right before you share it?", "data quality", "easy"),
            Q("Walk me through a complex SQL query you wrote. What made it tricky?", "sql", "medium"),
            Q("How would you present findings that contradict what a senior stakeholder expects?", "communication", "medium"),
            Q("Sales dropped last month. What data would you look at first, and in what order?", "root cause analysis", "medium"),
            Q("How do you decide which chart to use for a given message? Give an example.", "data visualisation", "easy"),
            Q("Describe a time you automated a manual report. What did it save?", "automation", "medium"),
            Q("How would you tell whether a change in a metric is real or just noise?", "statistics", "hard"),
        ],
    },
    "marketing": {
        "label": "marketer",
        "kinds": ("marketing", PROJECT_WORK),
        "aliases": ("marketing", "marketer", "growth", "seo", "content", "brand", "social media", "communications",
                    "campaign", "demand generation", "digital marketing", "copywriter", "pr"),
        "questions": [
            Q("Tell me about a campaign you ran. What was the goal, and how did it perform?", "campaigns", "easy"),
            Q("How do you decide how to split a limited budget across channels?", "budgeting", "medium"),
            Q("Describe a campaign that underperformed. What did you learn, and what did you change?", "failure", "medium"),
            Q("How do you measure the impact of brand or content work that doesn't convert directly?", "measurement", "hard"),
            Q("Walk me through how you'd build a go-to-market plan for a new product.", "go-to-market", "hard"),
            Q("How do you work out who your audience is and what they care about?", "audience research", "easy"),
            Q("Tell me about an experiment you ran to improve a conversion rate.", "experimentation", "medium"),
            Q("How do you keep a brand voice consistent across many channels and writers?", "brand", "medium"),
        ],
    },
    "sales": {
        "label": "sales professional",
        "kinds": ("sales", "customer-facing"),
        "aliases": ("sales", "account executive", "account manager", "business development", "sdr", "bdr",
                    "sales development", "salesperson", "sales representative", "rep", "partnerships"),
        "questions": [
            Q("Tell me about a deal you're proud of closing. What made the difference?", "closing deals", "easy"),
            Q("How do you build and manage your pipeline each week?", "pipeline management", "easy"),
            Q("Describe a deal you lost. What would you do differently?", "failure", "medium"),
            Q("A prospect says your price is too high. Walk me through your response.", "objection handling", "medium"),
            Q("How do you find and reach the real decision-maker in a complex organisation?", "prospecting", "medium"),
            Q("Tell me about a quarter where you were behind target. What did you change?", "targets", "hard"),
            Q("Sell me on a product you use every day, as if I were a sceptical buyer.", "pitching", "hard"),
            Q("How do you keep a customer relationship growing after the sale?", "account management", "medium"),
        ],
    },
    "project_manager": {
        "label": "project manager",
        "kinds": (PROJECT_WORK,),
        "aliases": ("project manager", "programme manager", "program manager", "project management", "scrum master",
                    "delivery manager", "project coordinator", "pmo", "agile coach"),
        "questions": [
            Q("Tell me about a project you delivered. How did you plan it and track progress?", "planning", "easy"),
            Q("Describe a project that went off track. How did you notice, and what did you do?", "recovery", "medium"),
            Q("How do you manage scope creep when a sponsor keeps adding requirements?", "scope", "medium"),
            Q("How do you identify and manage risks early? Give an example of a risk you caught.", "risk management", "medium"),
            Q("Tell me about communicating bad news to senior stakeholders.", "stakeholder management", "hard"),
            Q("How do you get commitment from people who don't report to you?", "influence", "hard"),
            Q("Which delivery method do you prefer, agile or waterfall, and when would you choose the other?", "methodology", "easy"),
            Q("How do you handle a project where the budget is cut by 30% halfway through?", "budget management", "hard"),
        ],
    },
    "customer_support": {
        "label": "customer support specialist",
        "kinds": ("customer-facing",),
        "aliases": ("customer support", "customer service", "customer success", "support specialist", "support engineer",
                    "help desk", "helpdesk", "service desk", "call centre", "call center", "client services",
                    "technical support", "support agent"),
        "questions": [
            Q("Tell me about a time you turned an unhappy customer around.", "difficult customers", "easy"),
            Q("How do you handle a customer who is angry about something you can't fix?", "de-escalation", "medium"),
            Q("Describe how you prioritise a queue when many tickets are urgent.", "prioritisation", "medium"),
            Q("Tell me about feedback from customers that you passed on and that changed the product or process.", "voice of customer", "medium"),
            Q("How do you explain a technical problem to a customer with no technical background?", "communication", "easy"),
            Q("What would you do if you noticed many customers reporting the same issue?", "escalation", "medium"),
            Q("How do you keep quality up when you're measured on speed?", "quality", "hard"),
            Q("Tell me about a time you had to say no to a customer. How did you keep the relationship?", "expectations", "hard"),
        ],
    },
    "devops": {
        "label": "DevOps / site reliability engineer",
        "kinds": ("software", PROJECT_WORK),
        "aliases": ("devops", "sre", "site reliability", "platform engineer", "infrastructure", "cloud engineer",
                    "systems engineer", "reliability", "operations engineer", "sysadmin", "system administrator",
                    "kubernetes", "release engineer"),
        "questions": [
            Q("Walk me through a production incident you handled. What did you do in the first fifteen minutes?", "incident response", "medium"),
            Q("How do you decide what to alert on, and how do you avoid alert fatigue?", "monitoring", "medium"),
            Q("Describe a CI/CD pipeline you built or improved. What did it change for the team?", "ci/cd", "easy"),
            Q("How would you set SLOs for a new service, and what would you do when the error budget runs out?", "slos", "hard"),
            Q("Tell me about automating something that used to be manual toil.", "automation", "easy"),
            Q("How do you roll out a risky infrastructure change safely?", "change management", "medium"),
            Q("A Kubernetes service is intermittently returning 502s. How do you investigate?", "troubleshooting", "hard"),
            Q("How do you manage infrastructure as code across several environments without drift?", "infrastructure as code", "hard"),
            Q("What makes a good blameless postmortem? Describe one you wrote.", "postmortems", "medium"),
        ],
    },
    "nurse": {
        "label": "nurse",
        "kinds": ("healthcare",),
        "aliases": ("nurse", "nursing", "rn", "registered nurse", "midwife", "healthcare assistant", "clinical",
                    "ward", "care assistant", "carer", "paramedic"),
        "questions": [
            Q("Tell me about a time you advocated for a patient.", "patient advocacy", "easy"),
            Q("How do you prioritise care when several patients need you at once?", "prioritisation", "medium"),
            Q("Describe a time you noticed a patient deteriorating. What did you do?", "patient safety", "medium"),
            Q("How do you handle a distressed or angry family member?", "communication", "easy"),
            Q("Tell me about a medication error or near miss you were involved in or witnessed, and what followed.", "medication safety", "hard"),
            Q("How do you hand over a complex patient at the end of a shift?", "handover", "medium"),
            Q("Describe disagreeing with a doctor about a patient's care. How did you raise it?", "escalation", "hard"),
            Q("How do you look after your own wellbeing in a demanding role?", "resilience", "easy"),
            Q("How do you assess a patient who arrives short of breath, and what would make you escalate?", "clinical assessment", "hard"),
            Q("What does good infection control look like on a busy ward, day to day?", "infection control", "medium"),
        ],
    },
    "teacher": {
        "label": "teacher",
        "kinds": ("education",),
        "aliases": ("teacher", "teaching", "educator", "tutor", "lecturer", "instructor", "teaching assistant",
                    "school", "classroom", "trainer"),
        "questions": [
            Q("Tell me about a lesson that went really well. Why did it work?", "lesson planning", "easy"),
            Q("How do you manage disruptive behaviour in the classroom? Give an example.", "behaviour management", "medium"),
            Q("How do you adapt a lesson for students working at very different levels?", "differentiation", "medium"),
            Q("Describe how you use assessment to change what you teach next.", "assessment", "medium"),
            Q("Tell me about a student you helped make real progress. What did you do?", "student progress", "easy"),
            Q("How do you work with a parent who disagrees with how you're handling their child?", "parents", "hard"),
            Q("Describe a lesson that failed. What did you change afterwards?", "reflection", "hard"),
            Q("How do you keep your practice up to date?", "professional development", "easy"),
            Q("How do you check, during a lesson, whether the class has really understood?", "checking understanding", "medium"),
        ],
    },
    "finance": {
        "label": "accountant",
        "kinds": ("finance",),
        "aliases": ("accountant", "accounting", "accounts", "finance", "financial analyst", "finance manager",
                    "bookkeeper", "bookkeeping", "financial controller", "auditor", "payroll",
                    "tax", "treasury", "fp&a", "cfo", "chartered accountant", "accounts payable", "accounts receivable"),
        "questions": [
            Q("How do you run a month-end close, and what do you check before you sign it off?", "month-end close", "medium"),
            Q("How do you track down a reconciliation that won't balance?", "reconciliation", "medium"),
            Q("Tell me about a time you found an error in the figures. How did you find it, and what did you do?", "accuracy", "easy"),
            Q("How would you explain a cash-flow problem to a manager with no finance background?", "communication", "easy"),
            Q("What controls would you put in place to stop duplicate payments to suppliers?", "controls", "hard"),
            Q("Describe a finance process you improved. What did it save?", "process improvement", "medium"),
            Q("How do you keep up with changes in accounting standards or tax rules?", "standards", "easy"),
            Q("Tell me about a tight reporting deadline you met. How did you plan the work?", "deadlines", "medium"),
            Q("How do you build a forecast, and how do you decide when it needs revising?", "forecasting", "hard"),
        ],
    },
}

# Questions about a job-description term; {term} is the term.
JD_TERM_QUESTIONS = {
    "easy": [
        "This role leans on {term}. Tell me about a piece of work where you used {term}, and what your part was.",
        "How have you used {term} in your recent work? Pick one concrete example.",
    ],
    "medium": [
        "The job description puts weight on {term}. Tell me about a project where {term} mattered, and what you did.",
        "Describe the most substantial work you've done involving {term}. What made it difficult?",
    ],
    "hard": [
        "What's the hardest problem you've solved with {term}, and what trade-offs did you make along the way?",
        "If I asked a colleague about your work with {term}, what would they say, and which example would they point to?",
    ],
}

# Questions about a résumé item; {item} is its gerund form, e.g. "leading the migration to Kubernetes".
RESUME_QUESTIONS = {
    "easy": [
        "Your résumé mentions {item}. Walk me through it: what was your part, and how did it turn out?",
        "I see {item} on your résumé. Tell me how that came about and what you did.",
    ],
    "medium": [
        "Your résumé mentions {item}. Walk me through it: what was your part, and how did it turn out?",
        "Let's talk about {item}, from your résumé. What was the hardest part, and how did you handle it?",
    ],
    "hard": [
        "Your résumé mentions {item}. What would have happened without you, and how do you know?",
        "On {item}, from your résumé: what went wrong along the way, and what would you do differently?",
    ],
}

INTRODUCTIONS = {
    "formal": [
        "Good day, and thank you for joining me. I'll be interviewing you for the {role} position{at_company}. "
        "We'll go through your experience, how you approach your work, and a few scenarios. "
        "Take your time with each answer, and use specific examples where you can. {question}",
        "Hello, and thank you for making the time. This is your interview for the {role} role{at_company}. "
        "I'll ask about your background, some situations you've handled, and how you'd approach the job. {question}",
    ],
    "casual": [
        "Hi, thanks for coming in! I'm looking forward to chatting about the {role} role{at_company}. "
        "This is a relaxed conversation, so just talk me through your experience the way you would with a colleague. {question}",
        "Hey, great to meet you. We're here to talk about the {role} job{at_company}, and there are no trick questions. "
        "I just want to hear about the work you've done. {question}",
    ],
    "challenging": [
        "Thanks for coming. This is the interview for the {role} role{at_company}, and I'll be direct: "
        "I'll push for specifics, numbers and your personal contribution, and I'll probe vague answers. {question}",
        "Let's get started. We're interviewing for the {role} position{at_company}, and the bar is high. "
        "Expect me to dig into details and challenge your reasoning. {question}",
    ],
    "technical": [
        "Hello, and thanks for joining. This is the technical interview for the {role} role{at_company}. "
        "We'll focus on the hands-on side: the tools you've used, the problems you've solved and the trade-offs you've made. {question}",
        "Welcome. For this {role} interview{at_company} I'll concentrate on technical depth: "
        "how things work, why you chose them, and what you'd do differently. {question}",
    ],
}

# Acknowledgements before a new question. {phrase} is a short quote from the answer.
TRANSITIONS = {
    "formal": [
        'Thank you. You mentioned "{phrase}", which is helpful context.',
        'Thank you for that. I noted "{phrase}".',
        'I appreciate the detail on "{phrase}".',
        'Understood: "{phrase}". That gives me a clear picture.',
        'Thank you. "{phrase}" is a useful point to keep in mind.',
        'That is clear, thank you, particularly "{phrase}".',
    ],
    "casual": [
        'Nice, "{phrase}" sounds like it took some work.',
        'Got it, thanks. I like the bit about "{phrase}".',
        'Cool, "{phrase}" is a good detail.',
        'Thanks, that helps. "{phrase}" stood out to me.',
        'Okay, "{phrase}", makes sense.',
        'Great, thanks for walking me through "{phrase}".',
    ],
    "challenging": [
        'Noted: "{phrase}". Let\'s see how that holds up elsewhere.',
        'Fine. "{phrase}", I\'ll take that at face value for now.',
        'Okay, "{phrase}". Moving on.',
        'You said "{phrase}". Let\'s switch gears.',
        'Right, "{phrase}". Next.',
        'Understood, "{phrase}". Let\'s test another area.',
    ],
    "technical": [
        'Thanks. "{phrase}" is useful to know.',
        'Okay, "{phrase}". That tells me something about how you work.',
        'Good, "{phrase}" is the kind of detail I was after.',
        'Noted, "{phrase}". Let\'s go deeper elsewhere.',
        'Thanks for that. I\'ll keep "{phrase}" in mind.',
        'Makes sense: "{phrase}".',
    ],
}
# After an answer that still lacked something: acknowledge it without praising it.
NEUTRAL_TRANSITIONS = [
    'Okay: "{phrase}". Let\'s move on.',
    'Thanks. I\'ve noted "{phrase}", and we can move on.',
    'Alright, "{phrase}". Let\'s try a different area.',
    'Noted: "{phrase}".',
    'Okay, "{phrase}". Let\'s look at something else.',
]
# Before the closing words: a neutral last acknowledgement. The closing words
# mostly thank the candidate already, so most of these do not.
CLOSING_ACKS = [
    'Thank you. I\'ve noted "{phrase}".',
    'Understood: "{phrase}".',
    'I\'ve noted "{phrase}".',
    'That last point is clear: "{phrase}".',
]
# When the answer gave nothing worth quoting.
PLAIN_TRANSITIONS = {
    "formal": ["Thank you.", "Thank you for that.", "Understood, thank you.", "Very well."],
    "casual": ["Okay, thanks.", "Got it.", "Sure, thanks.", "Alright."],
    "challenging": ["Okay.", "Noted.", "Let's move on.", "Fine."],
    "technical": ["Okay, thanks.", "Noted.", "Understood.", "Alright."],
}
# Said before the next question, after the acknowledgement, so turns don't all sound alike.
LEAD_INS = {
    "formal": ["", "", "My next question:", "Moving on.", "Next, I'd like to ask about something different."],
    "casual": ["", "", "Here's one I like to ask.", "I'm curious about this one.", "Switching topics a bit."],
    "challenging": ["", "Be specific here.", "I want concrete detail, not generalities.", "This one matters for the role."],
    "technical": ["", "", "Let's get into the detail.", "A technical one now.", "Let's dig into how you work."],
}

# Follow-ups by reason. Fields: {phrase} (quote), {term} (missing JD term), {vague} (vague words used).
FOLLOW_UPS = {
    "too_short": [
        "Could you expand on that? Pick one specific example and walk me through what happened, what you did, and how it turned out.",
        "That's quite brief. Can you give me a concrete example, with the situation, your actions, and the result?",
        "I'd like to hear more. Take me through a real instance of that, step by step.",
        "Can you say more? What was the context, and what exactly did you do?",
    ],
    "no_outcome": [
        'You described "{phrase}", but I didn\'t hear how it turned out. What was the result, ideally something you could measure?',
        "How did that end? What changed as a result of what you did?",
        'What was the impact of "{phrase}"? Any numbers, feedback or decisions that came out of it?',
        "And the outcome? How did you know whether it had worked?",
    ],
    "no_personal_role": [
        'You talked mostly about what "we" did. What was your own part: what did you personally decide or do?',
        "Which parts of that were yours specifically? What would not have happened without you?",
        "If I asked your teammates, what would they say was your contribution to that?",
        "I'd like to separate you from the team there. What did you own?",
    ],
    "vague": [
        'You said "{vague}". Can you be more specific? Give me the concrete detail: tools, numbers or steps.',
        'When you say "{vague}", what exactly do you mean? Walk me through one specific example.',
        "Let's make that concrete. What specifically happened, and what did you do?",
        'Can you replace "{vague}" with specifics? Names of tools, sizes, timelines.',
    ],
    "no_star_result": [
        'You mentioned "{phrase}". How did the story end, and what did you take away from it?',
        "What was the final result, and what would you do differently next time?",
        "Close the loop for me: where did things end up, and what did you learn?",
    ],
    "missing_jd_term": [
        "This role relies on {term}. Where did {term} come into that, or how have you used it elsewhere?",
        "You didn't mention {term}. How would it have fitted into that work, or where have you used it?",
        "How does {term} come into your experience here? Give me a concrete example.",
    ],
    # A situational answer that isn't a plan yet.
    "no_plan": [
        "Walk me through it step by step: what would you do first, what next, and why in that order?",
        "What exactly would you do, and why? And how would you know it had worked?",
        "Make that a plan for me: your first step, who you would involve, and how you would check the result.",
    ],
    # A screening answer of a word or two.
    "too_brief": [
        "Could you say a little more? A sentence or two is plenty.",
        "Can you give me a bit more detail on that?",
    ],
    # When follow-ups are allowed but nothing is missing and nothing new can be asked.
    "deeper": [
        "If you did that again, what would you do differently, and why?",
        'What was the hardest part of "{phrase}"?',
        "What trade-offs did you weigh there, and what did you give up?",
        "How did others react to what you did, and how did you handle that?",
    ],
}
# Pushier openers the challenging style puts before a follow-up.
CHALLENGING_FOLLOW_UP_PREFIX = ["That's not enough detail yet.", "I'm going to push on that.", "Let me press you there."]

CLOSINGS = {
    "formal": [
        "Thank you, that brings us to the end of the interview. I appreciate your thoughtful answers. "
        "Your feedback report, with scores and quotes from your answers, is being prepared now.",
        "That concludes our interview for the {role} position. Thank you for your time today. "
        "You'll find detailed feedback on each answer in your report shortly.",
    ],
    "casual": [
        "That's everything from me, thanks so much for the chat! Your feedback report is on its way, with notes on every answer.",
        "And that's a wrap. Thanks for talking me through all that! Have a look at your report in a moment for detailed feedback.",
    ],
    "challenging": [
        "That's time. You held up under some pointed questions. Your report will show where your answers were strong and where they weren't.",
        "We'll stop there. Thank you. The report will be blunt about what landed and what didn't, so read it closely.",
    ],
    "technical": [
        "That's the end of the technical interview. Thanks for going into the detail. Your report will break down each answer.",
        "We'll wrap up there. Thank you, that was a useful look at how you work. Detailed feedback is in your report shortly.",
    ],
}

# Past-tense verbs that start résumé bullet points, and the -ing form for the irregular ones.
IRREGULAR_GERUNDS = {
    "led": "leading", "built": "building", "ran": "running", "wrote": "writing", "drove": "driving", "grew": "growing",
    "cut": "cutting", "set": "setting", "taught": "teaching", "made": "making", "won": "winning", "took": "taking",
    "began": "beginning", "sold": "selling", "spoke": "speaking", "brought": "bringing", "oversaw": "overseeing",
    "rebuilt": "rebuilding", "put": "putting", "kept": "keeping", "found": "finding", "co-founded": "co-founding",
    "founded": "founding",
}
RESUME_VERBS_RE = re.compile(
    r"^(?:i\s+)?(led|built|ran|wrote|drove|grew|cut|set up|taught|made|won|sold|oversaw|rebuilt|founded|co-founded|"
    r"[a-z-]{3,}ed)\b",
    re.I,
)
# "-ed" words that are not actions (e.g. "Skilled in Python").
NOT_ACTIONS = frozenset("skilled experienced interested based talented detailed advanced required need needed used".split())


# Aliases too broad to beat a specific one ("Sales Engineer", "Design Analyst").
WEAK_ALIASES = frozenset(
    "engineer developer analyst design content school trainer clinical insights analytics reliability infrastructure "
    "rep pr pm rn ui ux".split()
)


# Words a cut-short phrase should not end on.
DANGLING = frozenset("a an the and or of in on at to for with by from through across per via into as".split())


def match_role(job_role, job_description=""):
    """The ROLES key that best fits a free-text job title, or None.

    The longest matching alias wins, so "Machine Learning Engineer" is a data
    scientist, not a software engineer; the job description is a weaker tiebreak.
    """
    def best(text, weight):
        text = " " + re.sub(r"[^a-z0-9+/#-]+", " ", (text or "").lower()) + " "
        scores = {}
        for key, spec in ROLES.items():
            for alias in spec["aliases"]:
                if f" {alias} " in text:
                    strength = 3 if alias in WEAK_ALIASES else len(alias)
                    scores[key] = max(scores.get(key, 0), strength * weight)
        return scores

    scores = best(job_role, 10)
    if not scores:
        scores = best(job_description, 1)
    if not scores:
        return None
    return max(sorted(scores), key=lambda k: scores[k])


def resume_items(resume, limit=8):
    """Achievements from a résumé, as "leading the migration to Kubernetes" phrases, in order."""
    items = []
    for line in re.split(r"[\n;•●▪◦]+|(?<=[.!?])\s+", resume or ""):
        line = re.sub(r"^[\s\-*–—·>\d.)]+", "", line).strip().rstrip(".")
        m = RESUME_VERBS_RE.match(line)
        if not m or m.group(1).lower() in NOT_ACTIONS or len(line.split()) < 3:
            continue
        line = re.sub(r"^i\s+", "", line, flags=re.I)
        verb, rest = line.split(" ", 1) if " " in line else (line, "")
        words = rest.split()
        # Keep the phrase speakable: the first clause, and no more than 12 words.
        if len(words) > 12 and "," in rest:
            rest = rest.split(",")[0]
        kept = rest.split()[:12]
        while kept and kept[-1].lower().strip(",;:-") in DANGLING:
            kept.pop()
        rest = " ".join(kept).rstrip(",;:-")
        item = f"{gerund(verb)} {rest}".strip()
        if item not in items:
            items.append(item)
        if len(items) >= limit:
            break
    return items


def gerund(verb):
    v = verb.lower()
    if v in IRREGULAR_GERUNDS:
        return IRREGULAR_GERUNDS[v]
    if v.endswith("ied"):
        return v[:-3] + "ying"
    if v.endswith("ed"):
        return v[:-2] + "ing"
    return v


# Questions that ask for a story, where STAR and an outcome are expected.
STORY_RE = re.compile(
    r"\b(tell me about|describe|give me an example|walk me through|a time|example of|talk me through|"
    r"how did you|what did you do|take me through)\b",
    re.I,
)
NOT_STORY_RE = re.compile(r"\b(background|yourself|career so far|why are you|motivat|what drew you|where do you want)\b", re.I)


def is_story_question(question):
    core = question_core(question)
    return bool(STORY_RE.search(core)) and not NOT_STORY_RE.search(core)


# ----- which roles a question fits -----

# "Manager" after these words names what is managed, not a team of people.
NOT_PEOPLE_MANAGERS = frozenset(
    "product project programme program account accounts delivery case community content social media office property "
    "campaign brand release relationship success".split()
)
PEOPLE_LEADER_WORDS = ("head of", "director", "team lead", "team leader", "supervisor", "vp", "vice president",
                       "charge nurse", "head teacher", "headteacher", "chief", "foreman")


def leads_people(job_role):
    """Whether the title says its holder manages people ("Engineering Manager", "Head of Sales")."""
    words = re.findall(r"[a-z]+", (job_role or "")[:200].lower())
    text = " " + " ".join(words) + " "
    if any(f" {w} " in text for w in PEOPLE_LEADER_WORDS):
        return True
    return any(w == "manager" and (i == 0 or words[i - 1] not in NOT_PEOPLE_MANAGERS) for i, w in enumerate(words))


def role_kinds(job_role, job_description=""):
    """The kinds of role a title (or, failing that, its job description) belongs to; always "any"."""
    key = match_role(job_role, job_description)
    kinds = {"any", *(ROLES[key]["kinds"] if key else ())}
    if leads_people(job_role):
        kinds.add("people-management")
    return frozenset(kinds)


def fits(question, kinds):
    return any(k in kinds for k in question.fits)


# ----- what kind of question it is (the coach judges structure by it) -----

STORY, SITUATIONAL_KIND, TECHNICAL_KIND, SCREEN_KIND, GENERAL = "story", "situational", "technical", "screen", "general"
QUESTION_KINDS = (STORY, SITUATIONAL_KIND, TECHNICAL_KIND, SCREEN_KIND, GENERAL)

# Questions read for their kind are at most this long (an interviewer turn is shorter still).
MAX_KIND_CHARS = 2000
# "Tell me about a time…" opens a story whatever else the question mentions.
STORY_OPENER_RE = re.compile(r"^\s*(?:tell me about a time|tell me about a|describe a time|give me an example|talk me through a time)\b", re.I)
SCREEN_RE = re.compile(
    r"\b(?:salary|salaries|compensation|pay expectations|notice period|when could you start|when can you start|"
    r"start date|available to start|right to work|visa|sponsorship|relocate|relocation|commute|working pattern|"
    r"hybrid|shift patterns?|hours or shifts?|interviewing anywhere|other interviews|other offers|accept an offer|"
    r"why do you want to work|why us|why this company|what do you know about|looking for a new role|"
    r"looking to move on|your next role|right next step|current responsibilities|other candidates)\b",
    re.I,
)
HYPOTHETICAL_RE = re.compile(
    r"\b(?:imagine|suppose|supposing|what if|what would you do(?! differently)|what would you say|what do you do first|"
    r"how would you (?:handle|approach|respond|react|deal|prioriti[sz]e|go about|decide|define|spend))\b",
    re.I,
)
IF_RE = re.compile(r"\bif\b", re.I)
WOULD_YOU_RE = re.compile(r"\b(?:would|will|do|should) you\b", re.I)
REFLECTIVE_RE = re.compile(r"\b(?:differently|again|looking back|in hindsight)\b", re.I)
TECHNICAL_RE = re.compile(
    r"\b(?:how (?:do|would|does|did) (?:you )?(?:design|build|architect|implement|debug|investigate|test|scale|"
    r"measure|monitor|detect|deploy|roll out|model|choose|decide|check|ensure|keep|make sure|manage|set|run|track|"
    r"assess|explain|handle|prioriti[sz]e|approach|work out|find|reconcile|hand over|adapt|use|work with|make|get|"
    r"present|tell whether)|how does [a-z0-9 /-]{1,40}? work|when would you|what (?:data|information|evidence) would you|"
    r"what(?: is|'s) the difference|explain|walk me through how|what controls|what metrics|which (?:tool|method|"
    r"metric|approach|delivery method)|trade-offs?|what does good)\b",
    re.I,
)


def question_kind(question, interview_type="mixed"):
    """story, situational, technical, screen or general: what a good answer to `question` looks like.

    A recruiter screen's open questions ("Why are you looking to move on?") want
    short facts too, so there a general question counts as a screening one."""
    core = question_core((question or "")[:MAX_KIND_CHARS])
    if STORY_OPENER_RE.search(core) and is_story_question(core):
        return STORY
    if SCREEN_RE.search(core):
        return SCREEN_KIND
    if HYPOTHETICAL_RE.search(core) or (IF_RE.search(core) and WOULD_YOU_RE.search(core) and not REFLECTIVE_RE.search(core)):
        return SITUATIONAL_KIND
    if is_story_question(core):
        return STORY
    if TECHNICAL_RE.search(core):
        return TECHNICAL_KIND
    return SCREEN_KIND if interview_type == "screen" else GENERAL
