"""Identity providers for the demo and the tests: an organisation's OpenID Connect provider
(`oidc`) and SAML 2.0 identity provider (`saml`), each with a sign-in page of its own, serving
on loopback only. They stand for a customer's or the vendor's real provider (Entra ID, Okta,
a university's Shibboleth), so that single sign-on is tried end to end without one.
"""

from dataclasses import dataclass
from html import escape

from aiohttp import web

HOST = "127.0.0.1"  # the lab never listens beyond loopback


@dataclass(frozen=True)
class Person:
    """Someone the provider knows: what they type on its sign-in page, and what it says of them."""

    subject: str  # the provider's stable identifier for them (OIDC `sub`, SAML subject-id)
    email: str
    name: str
    password: str
    # What the provider says of their roles in its own terms; the portal ignores it, roles are
    # granted in the portal.
    groups: tuple[str, ...] = ()


def page(title: str, body: str) -> str:
    """A provider's own page: its title as heading, `body` (HTML) below."""
    title = escape(title)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
            f"<body><main><h1>{title}</h1>{body}</main></body></html>")


class IdentityLab:
    """Providers served on one loopback port, each under `/<name>`, `port=0` taking a free one.
    A provider is anything with `application()` and a `base_url`, set here once the port is bound."""

    def __init__(self, providers: dict, *, port: int = 0):
        self.providers = providers
        self.port = port
        self._runner: web.AppRunner | None = None

    def application(self) -> web.Application:
        app = web.Application()
        for name, provider in self.providers.items():
            app.add_subapp(f"/{name}", provider.application())
        return app

    async def start(self) -> None:
        runner = web.AppRunner(self.application(), access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        try:
            await web.TCPSite(runner, HOST, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self.port = runner, runner.addresses[0][1]
        for name, provider in self.providers.items():
            provider.base_url = f"http://{HOST}:{self.port}/{name}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
