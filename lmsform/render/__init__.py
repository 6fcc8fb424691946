"""Plans for people and programs: Terraform-style text, Markdown for pull requests, JSON.

Kept apart from the `Plan` model so that a new output (HTML, a CI annotation) is one function
here, and the model stays a plain description of what will happen.

One module a job: `escaping` (what any name or value from the manifests or the LMS looks
like: inert text, code spans; the reason a plan cannot be forged by a name), `lines` (the
words every rendering shares), `people` (the impact section), `text` (and the summary),
`markdown` (pull-request comments, within GitHub's limit).
"""

from __future__ import annotations

from lmsform.plan import Plan
from lmsform.render.escaping import code, inert
from lmsform.render.lines import closing_line
from lmsform.render.markdown import MARKDOWN_BUDGET, render_markdown
from lmsform.render.text import render_summary, render_text, text_lines

__all__ = ["MARKDOWN_BUDGET", "RENDERERS", "closing_line", "code", "inert", "render_json",
           "render_markdown", "render_summary", "render_text", "text_lines"]


def render_json(plan: Plan) -> str:
    return plan.model_dump_json(indent=2)


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
