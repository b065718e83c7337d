from portal.models.accounts import User
from portal.models.customers import Contact, Organisation
from portal.models.fleet import Deployment, Server, ServerGroup

__all__ = ["Contact", "Deployment", "Organisation", "Server", "ServerGroup", "User"]
