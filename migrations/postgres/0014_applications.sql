-- Many applications in one store (issue 17). Every account and role belongs
-- to an application: the source that wrote it names one (default: the
-- source's name), `import --application` or a CSV `application` column
-- names one, and everything else is in `default`. A source or import that
-- names its application explicitly stores ids as `APPLICATION:NATIVE` so
-- that two applications' native ids never collide; grants and events follow
-- through their account and role.
ALTER TABLE principals ADD COLUMN application TEXT NOT NULL DEFAULT 'default';
ALTER TABLE roles ADD COLUMN application TEXT NOT NULL DEFAULT 'default';
-- An attribute to correlate accounts with people by (identity.match:
-- employee_number): HR's id of the person, as the application records it.
ALTER TABLE principals ADD COLUMN employee_number TEXT;
ALTER TABLE principal_history ADD COLUMN application TEXT NOT NULL DEFAULT 'default';
ALTER TABLE principal_history ADD COLUMN employee_number TEXT;

-- Stores synced before: each synced row's application is its source's name
-- (ids stay as they were: only an explicit `application:` namespaces them).
UPDATE principal_history SET application = source;
UPDATE principals SET application = (
        SELECT MIN(s.source) FROM source_rows s
         WHERE s.table_name = 'principals' AND s.row_key = principals.id)
    WHERE id IN (SELECT row_key FROM source_rows WHERE table_name = 'principals');
UPDATE roles SET application = (
        SELECT MIN(s.source) FROM source_rows s
         WHERE s.table_name = 'roles' AND s.row_key = roles.id)
    WHERE id IN (SELECT row_key FROM source_rows WHERE table_name = 'roles');

CREATE INDEX principals_application ON principals (application);
CREATE INDEX roles_application ON roles (application);
CREATE INDEX principal_history_application ON principal_history (application);
CREATE INDEX principals_employee_number ON principals (employee_number);
