import { severityBackfill } from '../audit-severity.js';

/** Migration 4: what an admin change did (before/after, never a secret), as JSON. */
export const AUDIT_DETAIL_MIGRATION = `
  ALTER TABLE audit_log ADD COLUMN detail TEXT;
  CREATE INDEX audit_log_event ON audit_log(event, time);
`;

/**
 * Migration 11: each event's severity (info, warning, critical), filtered on by the admin API;
 * older rows get the default the gateway derives (store/audit-severity.ts).
 */
export const AUDIT_SEVERITY_MIGRATION = `
  ALTER TABLE audit_log ADD COLUMN severity TEXT NOT NULL DEFAULT 'info';
  ${severityBackfill("json_extract(detail, '$.lockdown') = 1", "json_extract(detail, '$.disabled') = 1")};
  CREATE INDEX audit_log_severity ON audit_log(severity, time);
`;
