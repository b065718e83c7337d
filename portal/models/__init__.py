from portal.models.accounts import User
from portal.models.customers import Contact, Organisation
from portal.models.dispatches import Dispatch
from portal.models.fleet import Deployment, Server, ServerGroup
from portal.models.notices import Notice, NoticePreference
from portal.models.security import SecurityEvent
from portal.models.sign_on import SignOn, SignOnDomain
from portal.models.tokens import ApiToken, CalendarFeed, UserSession
from portal.models.webhooks import WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiToken", "CalendarFeed", "Contact", "Deployment", "Dispatch", "Notice", "NoticePreference", "Organisation",
    "SecurityEvent", "Server", "ServerGroup", "SignOn", "SignOnDomain", "User", "UserSession", "WebhookDelivery",
    "WebhookEndpoint",
]
