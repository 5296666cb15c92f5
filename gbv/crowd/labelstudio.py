"""Label Studio as the experts' tool (``label-studio-sdk`` 2.x against a Label Studio 1.23 server).

* :func:`label_config` -- the labelling interface: the artwork's image and description; value low/point/high
  with currency; style from :data:`gbv.contracts.STYLES`; attribution confidence (0-1); condition; comment.
* :func:`ensure_project` -- create the project or update its interface (found by title).
* :func:`push_tasks` -- one task per requested lot (from ``label_requests``), skipping lots already in the
  project. Tasks carry the lot (ref, title, artist, image, description, sale date) and how many experts are
  requested -- never who: experts are pseudonymous outside the tool.
* :func:`pull_labels` -- completed annotations as rows of the label CSV intake
  (:data:`gbv.contracts.LABEL_COLUMNS` + optional columns), ready for ``gbv labels import``. The expert is the
  annotating Label Studio user: ``expert_id`` is looked up in ``experts_by_email`` (email -> expert id), else
  the email's local part. Who labelled what is therefore visible only in the tool and in the intake file;
  validation replaces ``expert_id`` by its salted pseudonym before anything is stored.

Auth: the SDK takes an API key -- a personal access token, or a legacy token where the organisation enables
them (``label-studio start --enable-legacy-api-token --user-token ...`` for a local server).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from xml.sax.saxutils import quoteattr

import pandas as pd

from gbv.contracts import CURRENCIES, LABEL_COLUMNS, LABEL_OPTIONAL_COLUMNS, STYLES

PROJECT_TITLE = "gbv expert valuations"
CONDITIONS = ("excellent", "good", "fair", "poor")
TO = "description"


def label_config() -> str:
    """The labelling interface XML."""
    def choices(name: str, values, required: bool) -> str:  # noqa: ANN001
        inner = "".join(f"<Choice value={quoteattr(v)}/>" for v in values)
        req = ' required="true"' if required else ""
        return f'  <Choices name="{name}" toName="{TO}" choice="single"{req} showInLine="true">{inner}</Choices>\n'

    return (
        "<View>\n"
        '  <Header value="$title"/>\n'
        '  <Text name="artist" value="$artist_name"/>\n'
        '  <Image name="image" value="$image" maxWidth="480px"/>\n'
        f'  <Text name="{TO}" value="$description"/>\n'
        '  <Header value="Value estimate (hammer, in the currency chosen below)" size="5"/>\n'
        f'  <Number name="value_low" toName="{TO}" min="0" required="true"/>\n'
        f'  <Number name="value_point" toName="{TO}" min="0" required="true"/>\n'
        f'  <Number name="value_high" toName="{TO}" min="0" required="true"/>\n'
        + choices("currency", CURRENCIES, True)
        + '  <Header value="Style or movement" size="5"/>\n'
        + choices("style", STYLES, False)
        + '  <Header value="Attribution confidence (0-1)" size="5"/>\n'
        f'  <Number name="attribution_confidence" toName="{TO}" min="0" max="1" step="0.01"/>\n'
        '  <Header value="Condition" size="5"/>\n'
        + choices("condition", CONDITIONS, False)
        + f'  <TextArea name="comment" toName="{TO}" maxSubmissions="1"/>\n'
        "</View>\n"
    )


def client(url: str, api_key: str):  # noqa: ANN201
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=url.rstrip("/"), api_key=api_key)


def ensure_project(ls, title: str = PROJECT_TITLE) -> int:  # noqa: ANN001
    """The id of the project called ``title``, created or with its interface brought up to date."""
    config = label_config()
    for project in ls.projects.list():
        if project.title == title:
            if (project.label_config or "").strip() != config.strip():
                ls.projects.update(id=project.id, label_config=config)
            return int(project.id)
    project = ls.projects.create(title=title, label_config=config,
                                 description="Value, style and condition of upcoming artworks (gbv).")
    return int(project.id)


def _task_lots(ls, project_id: int) -> set[str]:  # noqa: ANN001
    return {str((t.data or {}).get("lot_ref")) for t in ls.tasks.list(project=project_id)}


def tasks_from_requests(requests: pd.DataFrame, lots: pd.DataFrame) -> list[dict[str, Any]]:
    """One task per requested lot: the lot's data and the number of experts asked (no expert identities)."""
    if requests.empty:
        return []
    wanted = requests.groupby("lot_ref").size()
    info = lots.drop_duplicates("lot_ref", keep="last").set_index("lot_ref")
    out = []
    for lot_ref, n in wanted.sort_index().items():
        row = info.loc[lot_ref] if lot_ref in info.index else pd.Series(dtype=object)

        def get(col: str, row=row) -> str:  # noqa: ANN001
            v = row.get(col) if len(row) else None
            return "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)

        out.append({"data": {"lot_ref": str(lot_ref), "title": get("title") or str(lot_ref),
                             "artist_name": get("artist_name"), "image": get("image_url"),
                             "description": get("description") or get("title") or str(lot_ref),
                             "sale_date": get("sale_date"), "sale_currency": get("sale_currency"),
                             "experts_requested": int(n)}})
    return out


def push_tasks(ls, project_id: int, tasks: list[dict[str, Any]]) -> int:  # noqa: ANN001
    """Import the tasks whose lot is not yet in the project; the number imported."""
    have = _task_lots(ls, project_id)
    new = [t for t in tasks if t["data"]["lot_ref"] not in have]
    if new:
        ls.projects.import_tasks(id=project_id, request=new, commit_to_project=True)
    return len(new)


def annotation_result(*, value_low: float, value_point: float, value_high: float, currency: str,
                      style: str | None = None, attribution_confidence: float | None = None,
                      condition: str | None = None, comment: str | None = None) -> list[dict[str, Any]]:
    """An annotation ``result`` as the interface produces it (used by tests and scripted submissions)."""
    def number(name: str, v: float) -> dict[str, Any]:
        return {"from_name": name, "to_name": TO, "type": "number", "value": {"number": v}}

    def choice(name: str, v: str) -> dict[str, Any]:
        return {"from_name": name, "to_name": TO, "type": "choices", "value": {"choices": [v]}}

    out = [number("value_low", value_low), number("value_point", value_point), number("value_high", value_high),
           choice("currency", currency)]
    if style:
        out.append(choice("style", style))
    if attribution_confidence is not None:
        out.append(number("attribution_confidence", attribution_confidence))
    if condition:
        out.append(choice("condition", condition))
    if comment:
        out.append({"from_name": "comment", "to_name": TO, "type": "textarea", "value": {"text": [comment]}})
    return out


def _fields(result: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in result or []:
        name, value = item.get("from_name"), item.get("value") or {}
        if "number" in value:
            out[name] = value["number"]
        elif "choices" in value:
            out[name] = (value["choices"] or [None])[0]
        elif "text" in value:
            text = value["text"]
            out[name] = " ".join(text) if isinstance(text, list) else text
    return out


def pull_labels(ls, project_id: int, experts_by_email: dict[str, str] | None = None) -> pd.DataFrame:  # noqa: ANN001
    """Completed (not cancelled) annotations as label-intake rows, sorted by label_id."""
    emails = {int(u.id): u.email for u in ls.users.list()}
    experts_by_email = experts_by_email or {}
    rows = []
    for task in ls.tasks.list(project=project_id):
        lot_ref = (task.data or {}).get("lot_ref")
        for ann in ls.annotations.list(id=task.id):
            if getattr(ann, "was_cancelled", False):
                continue
            f = _fields(ann.result)
            who = ann.completed_by
            who = who if isinstance(who, int) else getattr(who, "id", who)
            email = emails.get(int(who), "") if who is not None else ""
            expert_id = experts_by_email.get(email) or (email.split("@")[0] if email else None)
            when = ann.updated_at or ann.created_at
            when = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(when, dt.datetime) \
                else str(when)
            rows.append({"label_id": f"ls-{project_id}-{ann.id}", "lot_ref": lot_ref, "expert_id": expert_id,
                         "value_low": f.get("value_low"), "value_point": f.get("value_point"),
                         "value_high": f.get("value_high"), "currency": f.get("currency"), "submitted_at": when,
                         "style": f.get("style"), "attribution_confidence": f.get("attribution_confidence"),
                         "condition": f.get("condition"), "comment": f.get("comment")})
    cols = list(LABEL_COLUMNS) + list(LABEL_OPTIONAL_COLUMNS)
    return pd.DataFrame(rows, columns=cols).sort_values("label_id", kind="stable").reset_index(drop=True)
