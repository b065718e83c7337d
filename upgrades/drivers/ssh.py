"""The SSH driver: a deployment's command templates, run over SSH (asyncssh).

- The server's host key must be registered (`Server.host_key`, a known_hosts line) and is the only
  key accepted: no trust on first use, no ~/.ssh/known_hosts, no agent, no ~/.ssh/config.
- The secret is decrypted in memory for the call only. A secret that is a PEM/OpenSSH private
  key logs in with that key; any other secret is a password. It never reaches a log line: output
  that contains it is masked.
- What a command prints is the operation's log; a non-zero exit status fails the operation.
  Conventions for the commands that answer questions:
  `health` exits 0 when the server is healthy; `versions` prints `name=value` lines (cloudpaging,
  openjdk, tomcat, running, configured); `repository` prints one line per application, its
  publishing status, a space, its name (`published Adobe Reader`).
- Over SSH there is no load balancer to ask: whether a server is in its pool (`pool`) is answered
  by its `health` command, the check the balancer runs (`upgrades.drivers.pool` asks it again
  until it has passed as long as the balancer needs to take the server in).
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from portal import credentials
from upgrades.drivers.base import DriverError, Emit, Operation, Outcome, Target

DEFAULT_PORT = 22
CONNECT_TIMEOUT = 5.0
COMPONENTS = ("cloudpaging", "openjdk", "tomcat")
MASK = "[secret]"

if TYPE_CHECKING:
    # The driver imports asyncssh when it connects: a process that never does (most do not) skips its 0.4 s.
    import asyncssh

# What a deployment without templates of its own runs (an installation as the vendor ships it).
DEFAULT_COMMANDS = {
    "stop": "sudo systemctl stop cloudpaging tomcat",
    "start": "sudo systemctl start tomcat cloudpaging",
    "install": "sudo /opt/cloudpaging/installer/install.sh --version {cloudpaging} --openjdk {openjdk} --tomcat {tomcat}",
    "configure": "sudo /opt/cloudpaging/bin/cpconfig --apply --start",
    "upgrade-database": "sudo /opt/cloudpaging/bin/cpdbupgrade",
    "restore-database": "sudo /opt/cloudpaging/bin/cpdbrestore --latest-backup",
    "uninstall": "sudo /opt/cloudpaging/installer/uninstall.sh --all",
    "reboot": "sudo systemctl reboot",
    "health": "curl -fsS http://127.0.0.1:8080/health",
    "versions": "/opt/cloudpaging/bin/cpversions",
    "repository": "/opt/cloudpaging/bin/cprepository --status",
}

# Questions answered by another command.
ANSWERED_BY = {Operation.POOL: Operation.HEALTH}


class SshDriver:
    async def perform(self, target: Target, operation: Operation, params: dict, emit: Emit,
                      timeout: float) -> Outcome:
        command = render(target, ANSWERED_BY.get(operation, operation), params)
        known_host = _known_host(target)
        try:
            secret = credentials.reveal(target.secret_token)
        except credentials.CredentialError as error:
            raise DriverError(f"The credential of {target.hostname} cannot be read: {error}") from None

        lines: list[str] = []

        def say(line: str) -> None:
            lines.append(_masked(line, secret))
            emit(lines[-1])

        try:
            status = await _run(target, command, secret, known_host, say, timeout)
        except DriverError as error:
            raise DriverError(_masked(str(error), secret)) from None
        return _outcome(operation, status, lines, command)


def render(target: Target, operation: Operation, params: dict) -> str:
    """The operation's command for this server; values are shell-quoted, so a version string can
    never become a second command."""
    template = target.commands.get(operation.value) or DEFAULT_COMMANDS[operation.value]
    values = {"hostname": target.hostname, "role": target.role}
    values |= {name: str(params.get(name) or "") for name in COMPONENTS}
    try:
        return template.format_map({name: shlex.quote(value) for name, value in values.items()})
    except (KeyError, IndexError, ValueError) as error:
        raise DriverError(f"The {operation} command template cannot be filled in: {error!r} is not known") from None


def _known_host(target: Target) -> asyncssh.SSHKey:
    """The registered host key, from a known_hosts line (host patterns, if any, are ignored: the
    key belongs to this server's row)."""
    if not target.host_key.strip():
        raise DriverError(f"No SSH host key is registered for {target.hostname}: record it before connecting")
    import asyncssh

    words = target.host_key.split()
    for index, word in enumerate(words[:-1]):
        if word.startswith(("ssh-", "ecdsa-", "sk-")):
            try:
                return asyncssh.import_public_key(f"{word} {words[index + 1]}")
            except asyncssh.KeyImportError:
                break
    raise DriverError(f"The SSH host key registered for {target.hostname} cannot be read")


def _masked(line: str, secret: str) -> str:
    return line.replace(secret, MASK) if secret else line


async def _run(target: Target, command: str, secret: str, known_host, emit: Emit, timeout: float) -> int | None:
    where = f"{target.address}:{target.port or DEFAULT_PORT}"
    is_key = secret.lstrip().startswith("-----BEGIN")
    import asyncssh

    try:
        client_keys = [asyncssh.import_private_key(secret)] if is_key else None
    except asyncssh.KeyImportError:
        raise DriverError(f"The private key stored for {target.hostname} cannot be read") from None
    try:
        async with asyncssh.connect(
            target.address, target.port or DEFAULT_PORT, username=target.username or None,
            known_hosts=([known_host], [], []), client_keys=client_keys, password=None if is_key else (secret or None),
            agent_path=None, config=None, connect_timeout=min(CONNECT_TIMEOUT, timeout), login_timeout=timeout,
        ) as connection:
            process = await connection.create_process(command, stderr=asyncssh.STDOUT)
            async for line in process.stdout:
                if line := line.rstrip("\r\n"):  # the stream ends with an empty read
                    emit(line)
            await process.wait()
            return process.exit_status
    except asyncssh.HostKeyNotVerifiable:
        raise DriverError(
            f"The SSH host key of {where} is not the one registered for {target.hostname}: refusing to connect"
        ) from None
    except asyncssh.PermissionDenied:
        raise DriverError(f"{where} refused the SSH log-in of {target.username or 'the user'}: "
                          f"the {'key' if is_key else 'password'} was not accepted") from None
    except TimeoutError:
        raise DriverError(f"No SSH answer from {where} within the time allowed") from None
    except asyncssh.Error as error:
        raise DriverError(f"SSH to {where} failed: {error.reason}") from None
    except OSError as error:
        raise DriverError(f"Cannot reach {where}: {error.strerror or error}") from None


def _outcome(operation: Operation, status: int | None, lines: list[str], command: str) -> Outcome:
    last = lines[-1] if lines else ""
    if operation == Operation.HEALTH:
        healthy = status == 0
        return Outcome(ok=healthy, message="Healthy" if healthy else f"Unhealthy: {last}",
                       data={"healthy": healthy, "reason": "ok" if healthy else last})
    if operation == Operation.POOL:
        healthy = status == 0
        return Outcome(ok=healthy, message="Healthy" if healthy else f"Unhealthy: {last}",
                       data={"in_pool": healthy, "reason": "ok" if healthy else last, "source": "health"})
    if status != 0:
        ended = f"exited with status {status}" if status is not None else "was ended by a signal"
        return Outcome(ok=False, message=f"`{command}` {ended}" + (f": {last}" if last else ""))
    if operation == Operation.VERSIONS:
        pairs = dict(line.split("=", 1) for line in lines if "=" in line)
        versions = {name: pairs.get(name, "") for name in COMPONENTS}
        return Outcome(ok=True, message=", ".join(f"{k} {v}" for k, v in versions.items()), data={
            "versions": versions, "running": pairs.get("running") == "yes", "configured": pairs.get("configured") == "yes",
        })
    if operation == Operation.REPOSITORY:
        applications = [{"name": name, "status": state} for state, _, name in (line.partition(" ") for line in lines) if name]
        broken = [app["name"] for app in applications if app["status"] != "published"]
        return Outcome(ok=True, message="Every application is published" if not broken else
                       f"Not published: {', '.join(broken)}", data={"valid": not broken, "applications": applications})
    return Outcome(ok=True, message=last or "Done")
