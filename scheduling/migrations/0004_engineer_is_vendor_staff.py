"""Only vendor staff accounts can be engineers, in the database, whoever writes (page, admin,
shell, task): a constraint trigger on the engineer profile and one on the account it belongs to.

Each side locks what it reads against the other's concurrent write: a profile added for an
account takes a share lock on that account's row, which an update of its role waits for (and
the role's update is then checked again, with the profile visible)."""

from django.db import migrations

VENDOR_ROLES = "('support', 'engineer', 'admin')"

FORWARD = f"""
DO $$
DECLARE wrong text;
BEGIN
    SELECT string_agg(u.email, ', ') INTO wrong
    FROM scheduling_engineer e JOIN portal_user u ON u.id = e.user_id WHERE u.role NOT IN {VENDOR_ROLES};
    IF wrong IS NOT NULL THEN
        RAISE EXCEPTION 'Customer accounts with an engineer profile: %. Delete these profiles (Django admin, '
                        'Scheduling > Engineers), then migrate again.', wrong;
    END IF;
END
$$;

CREATE FUNCTION scheduling_engineer_is_vendor_staff() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'scheduling_engineer' THEN
        PERFORM 1 FROM portal_user WHERE id = NEW.user_id AND role IN {VENDOR_ROLES} FOR SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING
                ERRCODE = 'check_violation', CONSTRAINT = 'scheduling_engineer_is_vendor_staff',
                MESSAGE = 'Only vendor staff accounts can be engineers: this account is a customer''s.';
        END IF;
    ELSIF NEW.role NOT IN {VENDOR_ROLES} AND EXISTS (SELECT 1 FROM scheduling_engineer WHERE user_id = NEW.id) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'check_violation', CONSTRAINT = 'scheduling_engineer_is_vendor_staff',
            MESSAGE = 'Only vendor staff accounts can be engineers: this account has an engineer profile; '
                      'delete the profile first.';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER scheduling_engineer_is_vendor_staff
    AFTER INSERT OR UPDATE OF user_id ON scheduling_engineer
    FOR EACH ROW EXECUTE FUNCTION scheduling_engineer_is_vendor_staff();

CREATE CONSTRAINT TRIGGER scheduling_engineer_user_is_vendor_staff
    AFTER UPDATE OF role ON portal_user
    FOR EACH ROW EXECUTE FUNCTION scheduling_engineer_is_vendor_staff();
"""

BACKWARD = """
DROP TRIGGER scheduling_engineer_user_is_vendor_staff ON portal_user;
DROP TRIGGER scheduling_engineer_is_vendor_staff ON scheduling_engineer;
DROP FUNCTION scheduling_engineer_is_vendor_staff();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("portal", "0003_ascii_versions"),
        ("scheduling", "0003_windows_life"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
