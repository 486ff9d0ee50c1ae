import { KeyRequestError } from '../clientauth/api-key/issue.js';
import { enrolTotp, enrolmentJson, totpSecretBox } from '../clientauth/totp/enrol.js';
import { totpQrCode } from '../clientauth/totp/qr.js';
import type { TotpSubject } from '../store/identity-types.js';
import type { Store } from '../store/types.js';
import { UsageError } from './args.js';
import { table, totpJson } from './output.js';
import { withLoadedStore } from './users.js';

export const TOTP_USAGE = `usage:
  llmproxy totp enroll (--key ID | --user NAME) [--optional] [--force] [--json]
  llmproxy totp disable (--key ID | --user NAME) [--json]
  llmproxy totp status [--key ID | --user NAME] [--json]`;

const SUBJECT_OPTIONS = { key: { type: 'string' }, user: { type: 'string' } } as const;

export async function totpCommand(args: string[], out: (s: string) => void): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'enroll':
      return withLoadedStore(rest, { ...SUBJECT_OPTIONS, optional: { type: 'boolean' }, force: { type: 'boolean' } }, out, async (store, { values }, loaded) => {
        const { subject, label } = await subjectOf(store, values, true);
        if (!values.force && (await store.identity.totp.get(subject))) {
          throw new KeyRequestError(`${describe(subject)} is already enrolled; add --force to replace its secret and backup codes (the old ones stop working)`);
        }
        const box = await totpSecretBox(loaded.config.auth.totp.encryption_key, loaded.baseDir);
        if (!box.encrypts) process.stderr.write('llmproxy: warning: auth.totp.encryption_key is not configured; the TOTP secret is stored unencrypted\n');
        const enrolled = await enrolTotp(store.identity.totp, box, subject, label, values.optional !== true);
        if (values.json) {
          const who = subject.startsWith('key:') ? { key_id: subject.slice(4) } : { user: subject.slice(5) };
          return out(JSON.stringify({ ...who, ...enrolmentJson(enrolled) }, null, 2));
        }
        const qr = await totpQrCode(enrolled.otpauthUri, 'terminal');
        out(
          [
            `enrolled ${describe(subject)} for TOTP (${enrolled.record.required ? 'required on every request' : 'optional'}).`,
            '',
            'Scan this QR code with an authenticator app (Google Authenticator, Authy, ...):',
            qr,
            'or enter this URI / secret by hand:',
            `  ${enrolled.otpauthUri}`,
            `  secret: ${enrolled.secret}`,
            '',
            'Backup codes (each works once; shown once, store them now):',
            ...enrolled.backupCodes.map((c) => `  ${c}`),
          ].join('\n'),
        );
      });
    case 'disable':
      return withLoadedStore(rest, SUBJECT_OPTIONS, out, async (store, { values }) => {
        const { subject } = await subjectOf(store, values, false);
        const removed = await store.identity.totp.remove(subject);
        if (!removed) throw new KeyRequestError(`${describe(subject)} is not enrolled`);
        if (values.json) return out(JSON.stringify({ ...(subject.startsWith('key:') ? { key_id: subject.slice(4) } : { user: subject.slice(5) }), enrolled: false }, null, 2));
        out(`removed the TOTP enrolment of ${describe(subject)}; its backup codes no longer work`);
      });
    case 'status':
      return withLoadedStore(rest, SUBJECT_OPTIONS, out, async (store, { values }) => {
        const v = values as Record<string, string | undefined>;
        const all = v['key'] === undefined && v['user'] === undefined;
        const enrolments = all ? await store.identity.totp.list() : [await store.identity.totp.get((await subjectOf(store, values, false)).subject)].filter((e) => e !== undefined);
        if (values.json) return out(JSON.stringify(all ? enrolments.map((e) => totpJson(e)) : (enrolments[0] ? totpJson(enrolments[0]) : null), null, 2));
        if (enrolments.length === 0) return out(all ? 'no TOTP enrolments' : 'not enrolled');
        out(
          table(
            ['SUBJECT', 'REQUIRED', 'ENCRYPTED', 'ENROLLED', 'BACKUP CODES LEFT', 'LOCKED UNTIL'],
            enrolments.map((e) => {
              const j = totpJson(e);
              return [e.subject, j.required ? 'yes' : 'no', j.encrypted ? 'yes' : 'no', j.enrolled_at ?? '-', String(j.backup_codes_left), j.locked_until ?? '-'];
            }),
          ),
        );
      });
    default:
      throw new UsageError(sub === undefined ? 'missing totp subcommand' : `unknown totp subcommand "${sub}"`);
  }
}

/** The subject named by --key or --user (exactly one); checked to exist when `mustExist`. */
async function subjectOf(store: Store, values: Record<string, unknown>, mustExist: boolean): Promise<{ subject: TotpSubject; label: string }> {
  const key = values['key'] as string | undefined;
  const user = values['user'] as string | undefined;
  if ((key === undefined) === (user === undefined)) throw new UsageError('name exactly one of --key ID or --user NAME');
  if (key !== undefined) {
    const record = await store.keys.get(key);
    if (!record && mustExist) throw new KeyRequestError(`no key with id ${key}`);
    if (record && record.revokedAt !== null && mustExist) throw new KeyRequestError(`key ${key} is revoked`);
    return { subject: `key:${key}`, label: record?.name ?? key };
  }
  const record = await store.identity.users.get(user!);
  if (!record && mustExist) throw new KeyRequestError(`no user named ${user}`);
  return { subject: `user:${user!}`, label: user! };
}

function describe(subject: TotpSubject): string {
  return subject.startsWith('key:') ? `key ${subject.slice(4)}` : `user ${subject.slice(5)}`;
}
