/** The manifest file read when no --config is given; imports nothing, so --help can print it. */
export const DEFAULT_CONFIG_FILE = 'reembed.yaml';
