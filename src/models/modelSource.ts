/** The bytes of one stored version, as a model source fetched them. */
export interface FetchedModel {
  readonly manifestBytes: Uint8Array;
  readonly modelBytes: Uint8Array;
  /** Revision of the stored artifact (commit id, ETag, sha256:…). */
  readonly revision: string;
  /** Configured location, for display. */
  readonly source: string;
  /** The probe token of what was read, when it can differ from the token asked for (the object changed in between). */
  readonly token?: string;
}

/** Why a source could not answer; also the `reason` label of the source-error metric. */
export type SourceFailure = 'unreachable' | 'denied' | 'not_found' | 'invalid_response';

/** A model store that did not answer usefully. The message never holds a secret. */
export class ModelSourceError extends Error {
  override readonly name = 'ModelSourceError';

  constructor(
    readonly reason: SourceFailure,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Where one task's model comes from (a local file, S3, lakeFS). Sources only
 * move bytes: checking them is the loader's job, choosing when is the watcher's.
 */
export interface ModelSource {
  /** The configured location, safe to log and show (no credentials). */
  readonly uri: string;
  /** True when the location can never change (a lakeFS commit id), so polling is pointless. */
  readonly immutable: boolean;
  /**
   * True when `fetch(token)` reads one snapshot that can never change (a lakeFS
   * commit): a manifest and a model that disagree there will always disagree, so
   * a sha256 mismatch is final. Otherwise (S3, files) the .onnx may still be on
   * its way, and a mismatch is worth waiting for.
   */
  readonly snapshotReads: boolean;
  /**
   * A cheap token that changes when a new version lands: the manifest's ETag,
   * a commit id, a file's mtime. Equal tokens mean the same version.
   */
  probe(): Promise<string>;
  /** Fetches manifest and model of the version `token` names. */
  fetch(token: string): Promise<FetchedModel>;
}
