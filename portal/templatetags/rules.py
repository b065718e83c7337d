"""`sentence{% rule "S7" %}`, written right after the word: the vendor's process rule behind a sentence, for its own staff, who work by
those numbers; customers read the sentence without the code."""

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def rule(context, code: str) -> str:
    user = getattr(context.get("request"), "user", None)
    return f" ({code})" if user is not None and getattr(user, "is_vendor", False) else ""
