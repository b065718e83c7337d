"""The lab fleet: a simulated Cloudpaging deployment on loopback, for the demo and the tests.

One asyncio process (`manage.py labfleet`, or `LabFleet` in a thread) serves, per deployment:

- one HTTP listener per server: its health check, the functional endpoints of its role (log-in,
  navigation and admin version on Admin/License servers, application launch on Stream servers),
  and the agent that the lab driver calls (stop, start, install, configure, ...);
- one load balancer that routes to the healthy members of the admin pool and of the stream pool,
  with active health checks (or blindly, for a deployment without them), and the lab's own API
  (status as the load balancer sees it, injected faults, the journal of operations received).

The servers share one StreamDB schema version: a server whose major version differs fails its
health check, so a major upgrade's downtime emerges from the simulation (S4). State is kept as
JSON under a data folder, so a restarted fleet resumes where it stopped.

Nothing here imports Django: the fleet runs beside the portal, not inside it.
"""
