import {MedctlError} from '../core/errors.js'
import {ageEncrypt, newX25519Identity} from '../age/writer.js'

/**
 * Record-object crypto, all in the standard age format (any age tool can decrypt):
 * each object is encrypted to its own fresh X25519 identity (the object key), and that identity is
 * wrapped — age-encrypted again — to the custodian and later to each grantee. Sharing never
 * re-encrypts data; destroying a patient's envelopes shreds their objects.
 */
/** age-encryption (the reader, and the streaming writer) loads only when something is decrypted or streamed (start-up). */
const loadAge = () => import('age-encryption')

export interface ObjectKey {
  identity: string
  recipient: string
}

export async function newObjectKey(): Promise<ObjectKey> {
  return newX25519Identity()
}

export async function encryptObject(plaintext: Uint8Array, recipient: string): Promise<Uint8Array> {
  return ageEncrypt(plaintext, [recipient])
}

export async function decryptObject(ciphertext: Uint8Array, objectIdentity: string): Promise<Uint8Array> {
  const decrypter = new (await loadAge()).Decrypter()
  decrypter.addIdentity(objectIdentity)
  try {
    return await decrypter.decrypt(ciphertext)
  } catch (error) {
    throw new MedctlError('E_DECRYPT', 'The object does not decrypt with its key: the key or the stored bytes are wrong.', {
      cause: error,
      exitCode: 4,
    })
  }
}

/** The object identity, age-encrypted to each recipient (one stanza per recipient). */
export async function wrapKey(objectIdentity: string, recipients: readonly string[]): Promise<Uint8Array> {
  if (recipients.length === 0) throw new MedctlError('E_NO_RECIPIENT', 'A key envelope needs at least one recipient.')
  return ageEncrypt(objectIdentity, recipients)
}

export async function unwrapKey(envelope: Uint8Array, identity: string): Promise<string> {
  const decrypter = new (await loadAge()).Decrypter()
  decrypter.addIdentity(identity)
  try {
    return (await decrypter.decrypt(envelope, 'text')).trim()
  } catch (error) {
    throw new MedctlError('E_KEY_UNWRAP', 'This identity cannot open the key envelope.', {cause: error, exitCode: 5})
  }
}

/** Encrypts a short text (e.g. an identifier) to a recipient. */
export async function encryptText(text: string, recipient: string): Promise<Uint8Array> {
  return ageEncrypt(text, [recipient])
}

export async function decryptText(ciphertext: Uint8Array, identity: string): Promise<string> {
  const decrypter = new (await loadAge()).Decrypter()
  decrypter.addIdentity(identity)
  return decrypter.decrypt(ciphertext, 'text')
}

/** An async iterable as a pull-driven ReadableStream (backpressure: the next chunk is read when asked for). */
function toReadable(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next()
      if (next.done) controller.close()
      else controller.enqueue(next.value)
    },
    async cancel(reason) {
      await iterator.return?.(reason)
    },
  })
}

/**
 * age encryption of content of any size, streamed: age's STREAM construction seals 64 KiB
 * chunks one after another, so memory stays bounded whatever the size. The output is one
 * standard age file (the `age` command decrypts it).
 */
export async function* encryptObjectStream(plaintext: AsyncIterable<Uint8Array>, recipient: string): AsyncGenerator<Uint8Array> {
  const encrypter = new (await loadAge()).Encrypter()
  encrypter.addRecipient(recipient)
  const sealed = await encrypter.encrypt(toReadable(plaintext))
  yield* sealed as unknown as AsyncIterable<Uint8Array>
}

/**
 * Streamed age decryption. Each 64 KiB chunk is authenticated before it is yielded, but a
 * truncated file is only known at the end: callers write the output atomically and keep it only
 * when the whole stream ends without error. Any failure is E_DECRYPT (exit 4).
 */
export async function* decryptObjectStream(ciphertext: AsyncIterable<Uint8Array>, objectIdentity: string): AsyncGenerator<Uint8Array> {
  const decrypter = new (await loadAge()).Decrypter()
  decrypter.addIdentity(objectIdentity)
  let opened: AsyncIterable<Uint8Array>
  try {
    opened = (await decrypter.decrypt(toReadable(ciphertext))) as unknown as AsyncIterable<Uint8Array>
  } catch (error) {
    throw decryptFailure(error)
  }
  try {
    yield* opened
  } catch (error) {
    throw decryptFailure(error)
  }
}

function decryptFailure(error: unknown): MedctlError {
  if (error instanceof MedctlError) return error
  return new MedctlError('E_DECRYPT', 'The object does not decrypt with its key: the key or the stored bytes are wrong.', {
    cause: error,
    exitCode: 4,
  })
}
