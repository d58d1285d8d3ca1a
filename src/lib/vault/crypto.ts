import {Decrypter, Encrypter, generateX25519Identity, identityToRecipient} from 'age-encryption'
import {MedctlError} from '../core/errors.js'

/**
 * Record-object crypto, all in the standard age format (any age tool can decrypt):
 * each object is encrypted to its own fresh X25519 identity (the object key), and that identity is
 * wrapped — age-encrypted again — to the custodian and later to each grantee. Sharing never
 * re-encrypts data; destroying a patient's envelopes shreds their objects.
 */
export interface ObjectKey {
  identity: string
  recipient: string
}

export async function newObjectKey(): Promise<ObjectKey> {
  const identity = await generateX25519Identity()
  return {identity, recipient: await identityToRecipient(identity)}
}

export async function encryptObject(plaintext: Uint8Array, recipient: string): Promise<Uint8Array> {
  const encrypter = new Encrypter()
  encrypter.addRecipient(recipient)
  return encrypter.encrypt(plaintext)
}

export async function decryptObject(ciphertext: Uint8Array, objectIdentity: string): Promise<Uint8Array> {
  const decrypter = new Decrypter()
  decrypter.addIdentity(objectIdentity)
  try {
    return await decrypter.decrypt(ciphertext)
  } catch (error) {
    throw new MedctlError('E_DECRYPT', 'The object does not decrypt with its key: the key or the stored bytes are wrong.', {cause: error, exitCode: 4})
  }
}

/** The object identity, age-encrypted to each recipient (one stanza per recipient). */
export async function wrapKey(objectIdentity: string, recipients: readonly string[]): Promise<Uint8Array> {
  if (recipients.length === 0) throw new MedctlError('E_NO_RECIPIENT', 'A key envelope needs at least one recipient.')
  const encrypter = new Encrypter()
  for (const recipient of recipients) encrypter.addRecipient(recipient)
  return encrypter.encrypt(objectIdentity)
}

export async function unwrapKey(envelope: Uint8Array, identity: string): Promise<string> {
  const decrypter = new Decrypter()
  decrypter.addIdentity(identity)
  try {
    return (await decrypter.decrypt(envelope, 'text')).trim()
  } catch (error) {
    throw new MedctlError('E_KEY_UNWRAP', 'This identity cannot open the key envelope.', {cause: error, exitCode: 5})
  }
}

/** Encrypts a short text (e.g. an identifier) to a recipient. */
export async function encryptText(text: string, recipient: string): Promise<Uint8Array> {
  const encrypter = new Encrypter()
  encrypter.addRecipient(recipient)
  return encrypter.encrypt(text)
}

export async function decryptText(ciphertext: Uint8Array, identity: string): Promise<string> {
  const decrypter = new Decrypter()
  decrypter.addIdentity(identity)
  return decrypter.decrypt(ciphertext, 'text')
}
