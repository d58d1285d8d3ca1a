export {readAll, type ContentStore, type VerifyReport} from './content-store.js'
export {EmbeddedStore} from './embedded-store.js'
export {KuboStore, isTransient, type KuboStoreOptions} from './kubo-store.js'
export {CHUNK_SIZE, MissingBlockError, blockMatches, childLinks, encodeUnixfs, prepareFile, readUnixfs, type Block, type PreparedFile} from './unixfs.js'
