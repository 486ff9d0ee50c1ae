/** Migration 4: what an admin change did (before/after, never a secret), as JSON. */
export const AUDIT_DETAIL_MIGRATION = `
  ALTER TABLE audit_log ADD COLUMN detail TEXT;
  CREATE INDEX audit_log_event ON audit_log(event, time);
`;
