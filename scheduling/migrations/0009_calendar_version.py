"""A number that changes whenever the free slots may change, so that a process can keep the
slots it computed and know when they are out of date (`scheduling/slot_cache.py`).

`scheduling_calendar_version` holds one row. Every write of what the slot engine reads
(regions, business hours, engineers, their hours and time off, blackouts, low-usage hours,
windows; an account made active or inactive) gives it a new number from a sequence, so that no
number is used twice, even after a rollback. Two triggers on each of those tables:

1. At once, row by row: this transaction has changed the calendar (a transaction-local setting,
   `scheduling.calendar_changed`), so its own reads, which see its uncommitted rows, neither use
   nor fill the kept slots.
2. At the commit (a deferred constraint trigger): the new number, once per transaction. The row
   is locked only from there to the commit, so bookings never wait on one another for it while
   they hold other locks (an advisory lock, a request's row).

TRUNCATE (the tests' flush) gives a new number at once. The table is not a model: Django's flush
leaves it alone, and the number never goes back.
"""

from django.db import migrations

# What the slot engine reads; the windows and the accounts only when a change can move a slot.
TABLES = [
    "scheduling_supportregion", "scheduling_businesshours", "scheduling_engineer", "scheduling_engineerhours",
    "scheduling_timeoff", "scheduling_blackout", "scheduling_lowusagehours",
]
WINDOW_CHANGED = (
    "OLD.engineer_id IS DISTINCT FROM NEW.engineer_id OR OLD.held IS DISTINCT FROM NEW.held "
    "OR OLD.state IS DISTINCT FROM NEW.state"
)
USER_CHANGED = "OLD.is_active IS DISTINCT FROM NEW.is_active"


def _triggers(table: str, *, when: str = "") -> str:
    short = table.removeprefix("scheduling_").removeprefix("portal_")
    operations = ["INSERT OR DELETE", "UPDATE"] if when else ["INSERT OR UPDATE OR DELETE"]
    sql = []
    for operation in operations:
        condition = f" WHEN ({when})" if operation == "UPDATE" else ""
        suffix = "_update" if operation == "UPDATE" else ""
        sql.append(f"""
CREATE TRIGGER scheduling_calendar_changing_{short}{suffix}
    AFTER {operation} ON {table} FOR EACH ROW{condition}
    EXECUTE FUNCTION scheduling_calendar_changing();
CREATE CONSTRAINT TRIGGER scheduling_calendar_changed_{short}{suffix}
    AFTER {operation} ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW{condition}
    EXECUTE FUNCTION scheduling_calendar_changed();""")
    sql.append(f"""
CREATE TRIGGER scheduling_calendar_truncated_{short}
    AFTER TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION scheduling_calendar_truncated();""")
    return "".join(sql)


FORWARD = """
CREATE SEQUENCE scheduling_calendar_version_seq;
CREATE TABLE scheduling_calendar_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    version bigint NOT NULL
);
INSERT INTO scheduling_calendar_version (version) VALUES (nextval('scheduling_calendar_version_seq'));

CREATE FUNCTION scheduling_calendar_changing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('scheduling.calendar_changed', 'on', true);
    PERFORM set_config('scheduling.calendar_version_due', 'on', true);
    RETURN NULL;
END
$$;

CREATE FUNCTION scheduling_calendar_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Once per transaction (and again after a change made once the first number was given).
    IF current_setting('scheduling.calendar_version_due', true) = 'on' THEN
        PERFORM set_config('scheduling.calendar_version_due', 'off', true);
        INSERT INTO scheduling_calendar_version (version) VALUES (nextval('scheduling_calendar_version_seq'))
        ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION scheduling_calendar_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('scheduling.calendar_changed', 'on', true);
    INSERT INTO scheduling_calendar_version (version) VALUES (nextval('scheduling_calendar_version_seq'))
    ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version;
    RETURN NULL;
END
$$;
""" + "".join(_triggers(table) for table in TABLES) + _triggers(
    "scheduling_maintenancewindow", when=WINDOW_CHANGED
) + f"""
CREATE TRIGGER scheduling_calendar_changing_user_update
    AFTER UPDATE OF is_active ON portal_user FOR EACH ROW WHEN ({USER_CHANGED})
    EXECUTE FUNCTION scheduling_calendar_changing();
CREATE CONSTRAINT TRIGGER scheduling_calendar_changed_user_update
    AFTER UPDATE OF is_active ON portal_user DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ({USER_CHANGED})
    EXECUTE FUNCTION scheduling_calendar_changed();
"""


def _drop(table: str, *, when: bool = False) -> str:
    short = table.removeprefix("scheduling_").removeprefix("portal_")
    names = [f"scheduling_calendar_changing_{short}", f"scheduling_calendar_changed_{short}",
             f"scheduling_calendar_truncated_{short}"]
    if when:
        names += [f"scheduling_calendar_changing_{short}_update", f"scheduling_calendar_changed_{short}_update"]
    return "".join(f"DROP TRIGGER {name} ON {table};\n" for name in names)


BACKWARD = "".join(_drop(table) for table in TABLES) + _drop("scheduling_maintenancewindow", when=True) + """
DROP TRIGGER scheduling_calendar_changing_user_update ON portal_user;
DROP TRIGGER scheduling_calendar_changed_user_update ON portal_user;
DROP FUNCTION scheduling_calendar_truncated();
DROP FUNCTION scheduling_calendar_changed();
DROP FUNCTION scheduling_calendar_changing();
DROP TABLE scheduling_calendar_version;
DROP SEQUENCE scheduling_calendar_version_seq;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("scheduling", "0008_status_pages"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
