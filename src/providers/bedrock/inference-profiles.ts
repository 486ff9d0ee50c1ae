/**
 * Geographies of Bedrock's cross-region inference profiles (`us.anthropic.claude-…`,
 * `global.…`): https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html
 */
export const PROFILE_GEOGRAPHIES = ['us', 'eu', 'apac', 'global', 'us-gov', 'jp', 'au', 'ca'] as const;

/** A cross-region inference profile's geography prefix, as a model id starts with it. */
export const PROFILE_PREFIX = new RegExp(`^(?:${PROFILE_GEOGRAPHIES.join('|')})\\.`);
