"""Work run by the django-q2 cluster."""

from interviews import report


def build_report(interview_id):
    return report.build(interview_id)
