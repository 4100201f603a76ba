import { createHash } from 'node:crypto';
import { DEFAULT_HASH_OPTIONS, type ProfileSettings } from './profile.js';

/**
 * Bumped whenever reembed changes how it turns a row into model input (template rendering,
 * whitespace handling, truncation), because that changes the vectors without any setting
 * changing.
 */
export const PREPROCESSING_VERSION = 1;

/**
 * The fingerprint covers everything that changes the vectors a profile produces, and nothing
 * else: moving a model to another host (base_url), raising rate limits or changing batch
 * sizes keeps the fingerprint, so existing vectors stay valid.
 */
export function profileFingerprint(settings: ProfileSettings, template: string): string {
  const material = {
    v: PREPROCESSING_VERSION,
    provider: settings.provider,
    model: settings.model ?? null,
    dims: settings.dims,
    metric: settings.metric,
    normalize: settings.normalize,
    template,
    query_prefix: settings.query_prefix,
    document_prefix: settings.document_prefix,
    max_input_tokens: settings.max_input_tokens,
    on_too_long: settings.on_too_long,
    send_dimensions: settings.send_dimensions,
    hash:
      settings.provider === 'hash' || settings.provider === 'hash-image'
        ? (settings.hash ?? DEFAULT_HASH_OPTIONS)
        : null,
    // Truncation follows the tokenizer, so a chosen one is part of the vectors; left out when
    // unset, so the fingerprints of profiles written before the setting existed stay the same.
    ...(settings.tokenizer ? { tokenizer: settings.tokenizer } : {}),
    // Likewise the image input and the wire: absent from the fingerprints of text profiles.
    ...(settings.input ? { image: settings.input.image, image_version: settings.input.image_version ?? null } : {}),
    ...(settings.wire ? { wire: settings.wire } : {}),
  };
  return createHash('sha256').update(JSON.stringify(material)).digest('hex').slice(0, 16);
}
