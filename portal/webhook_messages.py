"""Chat messages written from a webhook payload ({"type", "timestamp", "data"}): the JSON a
Microsoft Teams workflow ("Post to a channel when a webhook request is received") and a Slack
incoming webhook take. Both read the payload's `data.summary` and `data.url`."""

from collections.abc import Callable

from portal.choices import EndpointKind


def _facts(payload: dict) -> list[tuple[str, str]]:
    data = payload["data"]
    facts = [("Event", payload["type"])]
    if data.get("organisation"):
        facts.append(("Organisation", data["organisation"]["name"]))
    if data.get("deployment"):
        facts.append(("Deployment", data["deployment"]["name"]))
    window = data.get("window")
    if window:
        facts.append(("Window (UTC)", f"{window['start'][:16].replace('T', ' ')} to {window['end'][11:16]}"))
    return facts


def teams(payload: dict) -> dict:
    """A message with one Adaptive Card."""
    data = payload["data"]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": data.get("summary", payload["type"]), "weight": "Bolder", "wrap": True},
            {"type": "FactSet", "facts": [{"title": title, "value": value} for title, value in _facts(payload)]},
        ],
    }
    if data.get("url"):
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in the portal", "url": data["url"]}]
    return {"type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                             "content": card}]}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(payload: dict) -> dict:
    """`text` for notifications, and blocks for the channel."""
    data = payload["data"]
    summary = _slack_escape(data.get("summary", payload["type"]))
    headline = f"<{data['url']}|{summary}>" if data.get("url") else summary
    return {
        "text": data.get("summary", payload["type"]),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _slack_escape(f"{title}: {value}")}
                                             for title, value in _facts(payload)]},
        ],
    }


MESSAGES: dict[str, Callable[[dict], dict]] = {EndpointKind.TEAMS: teams, EndpointKind.SLACK: slack}
