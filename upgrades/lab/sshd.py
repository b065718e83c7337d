"""An SSH server (asyncssh) in front of one lab server, so the SSH driver has something real to
drive: its `labctl` command acts on that server's agent, as `systemctl` and the vendor's
installer act on a real one.

`labctl <operation> [--cloudpaging V --openjdk V --tomcat V]` prints the operation's log lines
and exits 0 when it succeeded, 1 when it failed; `labctl health|versions|repository` print what
the SSH driver's conventions expect (see `upgrades.drivers.ssh`). Any other command is not
found (exit 127). Log-in: one user name, with a password or an authorised public key.
"""

import argparse
import asyncio
import json
import secrets
import shlex
import ssl
from dataclasses import dataclass
from functools import cache

import asyncssh
import httpx

from upgrades.lab.fleet import HOST
from upgrades.lab.operations import OPERATIONS

# The templates a deployment reached through this server registers (`upgrades.models.CommandTemplates`).
LAB_COMMANDS = {
    "stop": "labctl stop",
    "start": "labctl start",
    "install": "labctl install --cloudpaging {cloudpaging} --openjdk {openjdk} --tomcat {tomcat}",
    "configure": "labctl configure",
    "upgrade-database": "labctl upgrade-database",
    "restore-database": "labctl restore-database",
    "uninstall": "labctl uninstall",
    "reboot": "labctl reboot",
    "health": "labctl health",
    "versions": "labctl versions",
    "repository": "labctl repository",
}


@dataclass(frozen=True)
class LabSsh:
    port: int
    known_host: str  # the server's host key as a known_hosts line
    server: asyncssh.SSHAcceptor


class _Gate(asyncssh.SSHServer):
    def __init__(self, username: str, password: str | None):
        self.username, self.password = username, password

    def begin_auth(self, username: str) -> bool:
        return True  # every log-in authenticates

    def password_auth_supported(self) -> bool:
        return self.password is not None

    def validate_password(self, username: str, password: str) -> bool:
        return username == self.username and secrets.compare_digest(password, self.password or "")

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return False  # only the authorised keys given to the acceptor


async def start_ssh(*, agent_port: int, username: str, password: str | None = None,
                    client_key: str | None = None, port: int = 0) -> LabSsh:
    """Listen on loopback for SSH to the lab server whose agent is on `agent_port`.
    `client_key` is an authorised public key (OpenSSH format)."""
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    agent = f"http://{HOST}:{agent_port}"
    acceptor = await asyncssh.create_server(
        lambda: _Gate(username, password), HOST, port,
        server_host_keys=[host_key],
        authorized_client_keys=asyncssh.import_authorized_keys(client_key) if client_key else None,
        process_factory=lambda process: _labctl(process, agent),
    )
    bound = acceptor.sockets[0].getsockname()[1]
    line = f"[{HOST}]:{bound} {host_key.export_public_key().decode().strip()}"
    return LabSsh(port=bound, known_host=line, server=acceptor)


@cache
def _unused_tls() -> ssl.SSLContext:
    # The agent speaks plain HTTP; a ready context spares httpx loading the CA bundle per command.
    return ssl.create_default_context()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labctl", add_help=False, exit_on_error=False)
    parser.add_argument("operation")
    for component in ("cloudpaging", "openjdk", "tomcat"):
        parser.add_argument(f"--{component}", default="")
    return parser


async def _labctl(process: asyncssh.SSHServerProcess, agent: str) -> None:
    try:
        words = shlex.split(process.command or "")
    except ValueError:
        words = []
    if not words or words[0] != "labctl":
        process.stderr.write(f"{words[0] if words else 'sh'}: command not found\n")
        process.exit(127)
        return
    try:
        options, _ = _parser().parse_known_args(words[1:])
    except (argparse.ArgumentError, SystemExit):
        process.stderr.write("labctl: usage: labctl OPERATION [--cloudpaging V --openjdk V --tomcat V]\n")
        process.exit(2)
        return
    try:
        async with httpx.AsyncClient(base_url=agent, timeout=None, trust_env=False, verify=_unused_tls()) as client:
            status = await _act(client, process, options)
    except httpx.HTTPError as error:
        process.stderr.write(f"labctl: the agent did not answer: {error.__class__.__name__}\n")
        status = 3
    except (BrokenPipeError, ConnectionError, asyncssh.Error):
        return  # the client went away
    process.exit(status)


async def _act(client: httpx.AsyncClient, process: asyncssh.SSHServerProcess, options) -> int:
    operation = options.operation
    if operation in OPERATIONS:
        params = {name: getattr(options, name) for name in ("cloudpaging", "openjdk", "tomcat")}
        async with client.stream("POST", f"/agent/{operation}", json=params) as response:
            async for line in response.aiter_lines():
                if line.strip():
                    message = json.loads(line)
                    if "line" in message:
                        process.stdout.write(message["line"] + "\n")
                    elif "result" in message:
                        result = message["result"]
                        if not result["ok"]:
                            process.stdout.write(f"labctl: {operation} failed: {result['message']}\n")
                        return 0 if result["ok"] else 1
        return 3
    if operation == "health":
        answer = (await client.get("/health")).json()
        process.stdout.write(f"{answer['reason']}\n")
        return 0 if answer["healthy"] else 1
    if operation == "versions":
        answer = (await client.get("/agent/status")).json()
        for name, version in answer["versions"].items():
            process.stdout.write(f"{name}={version}\n")
        process.stdout.write(f"running={'yes' if answer['running'] else 'no'}\n")
        process.stdout.write(f"configured={'yes' if answer['configured'] else 'no'}\n")
        return 0
    if operation == "repository":
        answer = (await client.get("/agent/repository")).json()
        for application in answer["applications"]:
            state = "published" if application["status"] == "published" else "unpublished"
            process.stdout.write(f"{state} {application['name']}\n")
        return 0
    process.stderr.write(f"labctl: no operation {operation!r}\n")
    return 2


async def stop_ssh(lab_ssh: LabSsh) -> None:
    lab_ssh.server.close()
    await asyncio.wait_for(lab_ssh.server.wait_closed(), 5)
