import type {StoreSettings} from '../config/profiles.js'
import type {MedctlPaths} from '../config/paths.js'
import {MedctlError, ExitCode} from '../core/errors.js'
import {openDatabase, type Db} from '../db/database.js'
import {readAll, type ContentStore} from './content-store.js'
import {EmbeddedStore} from './embedded-store.js'
import {KuboStore, type KuboStoreOptions} from './kubo-store.js'
import {encodeUnixfs} from './unixfs.js'

type ByteSource = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>

/** Request tuning for a Kubo node (flags `--timeout-ms`, `--retries`). */
export type KuboTuning = Pick<KuboStoreOptions, 'timeoutMs' | 'retries' | 'backoffMs' | 'probeTimeoutMs'>

/**
 * A profile whose store is a Kubo node. The home's own database keeps the blocks medctl wrote
 * itself (import writes an object's blocks in the same transaction as its index row), so reads
 * look there first and then ask the node (which fetches from the IPFS network); writes go to the
 * node and are pinned there. Every block is checked against its CID either way.
 */
export class KuboProfileStore implements ContentStore {
  readonly kind = 'kubo' as const

  constructor(
    readonly local: EmbeddedStore,
    readonly remote: KuboStore,
  ) {}

  get url(): string {
    return this.remote.url
  }

  async add(content: ByteSource): Promise<{cid: string; size: number}> {
    const bytes = content instanceof Uint8Array ? content : await readAll(toAsync(content))
    const expected = await encodeUnixfs(bytes, () => undefined)
    const added = await this.remote.addFrom(() => bytes)
    if (added.cid !== expected.cid) {
      throw new MedctlError(
        'E_STORE_MISMATCH',
        `The Kubo node computed ${added.cid} where medctl computes ${expected.cid}: its add options differ (CIDv1, raw leaves, 256 KiB chunks).`,
        {exitCode: ExitCode.FAILURE},
      )
    }
    return expected
  }

  /**
   * The streaming put: the content goes into the home's own blocks first (bounded memory), then
   * streams from them to the node, which must compute the same CID; it is pinned there.
   */
  async addStream(source: () => AsyncIterable<Uint8Array>): Promise<{cid: string; size: number}> {
    const local = await this.local.addStream(source)
    const added = await this.remote.addFrom(() => this.local.cat(local.cid))
    if (added.cid !== local.cid) {
      throw new MedctlError(
        'E_STORE_MISMATCH',
        `The Kubo node computed ${added.cid} where medctl computes ${local.cid}: its add options differ (CIDv1, raw leaves, 256 KiB chunks).`,
        {exitCode: ExitCode.FAILURE},
      )
    }
    await this.remote.pin(local.cid)
    return local
  }

  async pin(cid: string): Promise<void> {
    await this.remote.pin(cid)
  }

  async has(cid: string): Promise<boolean> {
    return (await this.local.has(cid)) || this.remote.has(cid)
  }

  async getBlock(cid: string): Promise<Uint8Array | undefined> {
    return (await this.local.getBlock(cid)) ?? this.remote.getBlock(cid)
  }

  async *cat(cid: string): AsyncIterable<Uint8Array> {
    // A complete local copy streams from the home's blocks (bounded memory, each block checked);
    // a partial one is read from the node instead, decided before anything is yielded.
    if (this.local.hasDag(cid)) {
      yield* this.local.cat(cid)
      return
    }
    yield* this.remote.cat(cid)
  }
}

async function* toAsync(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* source
}

export interface StoreFactoryInput {
  /** The profile's store setting. */
  store: StoreSettings
  /** The home's database (opened on first need). */
  db: () => Db
  /** A Kubo node named for this one command (`records upload --kubo URL`) instead of the profile's. */
  kuboUrl?: string
  tuning?: KuboTuning
}

/**
 * THE content store factory: every command that reads or writes objects, access packages or
 * published logs gets its store here, from the profile (`embedded`, or `kubo` with its URL).
 */
export function contentStoreFor(input: StoreFactoryInput): ContentStore {
  if (input.kuboUrl) return new KuboStore({url: input.kuboUrl, ...input.tuning})
  if (input.store.type === 'embedded') return new EmbeddedStore(input.db())
  return new KuboProfileStore(new EmbeddedStore(input.db()), new KuboStore({url: input.store.url, ...input.tuning}))
}

/** The profile's content store (see contentStoreFor). */
export function openContentStore(
  session: {paths: MedctlPaths; profile: {store: StoreSettings}},
  options: {kuboUrl?: string; tuning?: KuboTuning} = {},
): ContentStore {
  return contentStoreFor({store: session.profile.store, db: () => openDatabase(session.paths), ...options})
}

/**
 * The blocks in the home's own database, next to the record index: what `records import` writes
 * in one transaction with its index rows, what `records upload` replicates from and what
 * `store verify` checks — whatever the profile's store is.
 */
export function openLocalBlocks(db: Db): EmbeddedStore {
  return new EmbeddedStore(db)
}
