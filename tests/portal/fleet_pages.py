"""What people do on a deployment's servers page, for the browser stories."""

from playwright.sync_api import Page, expect


def add_servers(page: Page, servers: list[tuple[str, str, str, str]], *, password: str = "s3cret-pass") -> None:
    """Register `servers` (group, role, host name, address) one at a time, as support types them,
    each confirmed by the page."""
    for group, role, hostname, address in servers:
        page.get_by_label("Server group").select_option(label=group)
        page.locator("select[name=role]").select_option(label=role)
        page.get_by_label("Host name").fill(hostname)
        page.locator("input[name=address]").fill(address)
        page.get_by_label("User name").fill("cpadmin")
        page.get_by_label("Password or key passphrase").fill(password)
        page.get_by_role("button", name="Add server").click()
        expect(page.get_by_role("status")).to_contain_text(f"{hostname} is registered")
