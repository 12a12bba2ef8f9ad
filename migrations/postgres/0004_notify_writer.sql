-- A notification also names the longrun process whose connection made the
-- change (each sets longrun.writer when it connects), after a space: that
-- process has applied its own change already and skips it. Changes by any
-- other program carry the id alone.
CREATE OR REPLACE FUNCTION operations_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    writer text := NULLIF(current_setting('longrun.writer', true), '');
BEGIN
    PERFORM pg_notify('longrun_operations', COALESCE(NEW.id, OLD.id)::text || COALESCE(' ' || writer, ''));
    RETURN NULL;
END;
$$;
