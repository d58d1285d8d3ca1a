export {readAll, type ContentSource, type ContentStore, type VerifyReport} from './content-store.js'
export {EmbeddedStore} from './embedded-store.js'
export {KuboStore, isTransient, type KuboStoreOptions} from './kubo-store.js'
export {KuboProfileStore, contentStoreFor, openContentStore, openLocalBlocks, type KuboTuning, type StoreFactoryInput} from './factory.js'
export {
  CarFile,
  MAX_CAR_BLOCK,
  dagBlocks,
  decodeCar,
  decodeCarHeader,
  decodeVarint,
  encodeCar,
  encodeCarHeader,
  encodeCarSection,
  encodeVarint,
  openCarFile,
  writeCarFile,
  type CarHeader,
} from './car.js'
export {
  CHUNK_SIZE,
  MissingBlockError,
  blockMatches,
  childLinks,
  encodeUnixfs,
  prepareFile,
  readUnixfs,
  type Block,
  type PreparedFile,
} from './unixfs.js'
