/**
 * The Bedrock control plane's inference profiles for the emulator (bedrock.ts):
 * ListInferenceProfiles `GET /inference-profiles?maxResults=&nextToken=&type=` and
 * GetInferenceProfile `GET /inference-profiles/{inferenceProfileIdentifier}`, shaped as
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_ListInferenceProfiles.html and
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_GetInferenceProfile.html describe
 * (`inferenceProfileSummaries`, `nextToken`; one profile's fields flat in GetInferenceProfile).
 */

/** A refusal, which bedrock.ts writes in AWS's error shape. */
export class ProfileRefusal {
  constructor(
    readonly status: 400 | 404,
    readonly type: 'ValidationException' | 'ResourceNotFoundException',
    readonly message: string,
  ) {}
}

export interface InferenceProfile {
  inferenceProfileName: string;
  description: string;
  createdAt: string;
  updatedAt: string;
  inferenceProfileArn: string;
  models: Array<{ modelArn: string }>;
  inferenceProfileId: string;
  status: 'ACTIVE';
  type: 'SYSTEM_DEFINED' | 'APPLICATION';
}

/** A foundation model a profile routes to (bedrock.ts's catalogue). */
export interface ProfiledModel {
  modelId: string;
  modelName: string;
  providerName: string;
}

const TYPES = new Set(['SYSTEM_DEFINED', 'APPLICATION']);
const CREATED = '2024-08-27T00:00:00.000Z';

/**
 * The profiles of one emulated account and region: for each model, a system-defined profile of
 * the region's geography (`us.`) and a `global.` one, plus one application profile the account
 * made, so the `type` filter has something to filter.
 *
 * @example
 * const profiles = new InferenceProfiles('us-east-1', '123456789012', 'us', [haiku]);
 * profiles.list(new URLSearchParams('type=SYSTEM_DEFINED&maxResults=1')); // { inferenceProfileSummaries: [...], nextToken }
 */
export class InferenceProfiles {
  readonly all: readonly InferenceProfile[];

  constructor(region: string, accountId: string, geography: string, models: readonly ProfiledModel[]) {
    const modelArn = (id: string) => `arn:aws:bedrock:${region}::foundation-model/${id}`;
    const system = models.flatMap((m) =>
      [geography, 'global'].map((geo): InferenceProfile => ({
        inferenceProfileName: `${geo.toUpperCase()} ${m.providerName} ${m.modelName}`,
        description: `Routes requests to ${m.providerName} ${m.modelName} across ${geo === 'global' ? 'commercial AWS Regions' : `${geo.toUpperCase()} Regions`}.`,
        createdAt: CREATED,
        updatedAt: CREATED,
        inferenceProfileArn: `arn:aws:bedrock:${region}:${accountId}:inference-profile/${geo}.${m.modelId}`,
        models: [{ modelArn: modelArn(m.modelId) }],
        inferenceProfileId: `${geo}.${m.modelId}`,
        status: 'ACTIVE',
        type: 'SYSTEM_DEFINED',
      })),
    );
    const first = models[0];
    const application: InferenceProfile[] = first
      ? [{
          inferenceProfileName: 'team-cost-tracking',
          description: 'An application inference profile the account created.',
          createdAt: CREATED,
          updatedAt: CREATED,
          inferenceProfileArn: `arn:aws:bedrock:${region}:${accountId}:application-inference-profile/a1b2c3d4e5f6`,
          models: [{ modelArn: modelArn(first.modelId) }],
          inferenceProfileId: 'a1b2c3d4e5f6',
          status: 'ACTIVE',
          type: 'APPLICATION',
        }]
      : [];
    this.all = [...system, ...application];
  }

  /** ListInferenceProfiles: `type` filters, `maxResults` (1–1000) pages, `nextToken` resumes. */
  list(query: URLSearchParams): { inferenceProfileSummaries: InferenceProfile[]; nextToken?: string } | ProfileRefusal {
    const type = query.get('type');
    if (type !== null && !TYPES.has(type)) {
      return validation(`1 validation error detected: Value '${type}' at 'typeEquals' failed to satisfy constraint: Member must satisfy enum value set: [SYSTEM_DEFINED, APPLICATION]`);
    }
    const maxText = query.get('maxResults');
    const max = maxText === null ? 1000 : Number(maxText);
    if (!Number.isInteger(max) || max < 1 || max > 1000) {
      return validation(`1 validation error detected: Value '${maxText}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000`);
    }
    const token = query.get('nextToken');
    const start = token === null ? 0 : offsetOf(token);
    if (start === undefined) return validation('The pagination token is invalid.');
    const matching = this.all.filter((p) => type === null || p.type === type);
    const page = matching.slice(start, start + max);
    const next = start + max < matching.length ? { nextToken: tokenOf(start + max) } : {};
    return { inferenceProfileSummaries: page, ...next };
  }

  /** GetInferenceProfile by id or ARN (decoded); ResourceNotFoundException otherwise. */
  get(identifier: string): InferenceProfile | ProfileRefusal {
    const found = this.all.find((p) => p.inferenceProfileId === identifier || p.inferenceProfileArn === identifier);
    return found ?? new ProfileRefusal(404, 'ResourceNotFoundException', `Inference profile ${identifier} not found.`);
  }
}

function validation(message: string): ProfileRefusal {
  return new ProfileRefusal(400, 'ValidationException', message);
}

/** Page tokens are opaque to clients; here, the next offset, base64url-encoded with a marker. */
function tokenOf(offset: number): string {
  return Buffer.from(`ip:${offset}`).toString('base64url');
}

function offsetOf(token: string): number | undefined {
  const m = /^ip:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  return m ? Number(m[1]) : undefined;
}
