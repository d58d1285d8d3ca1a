/**
 * EIP-712 for a ClaimAttestation computed from the specification with @noble/hashes (keccak) and
 * @noble/curves (secp256k1), not ethers: an independent check of what medctl signs and verifies.
 */
import {secp256k1} from '@noble/curves/secp256k1.js'
import {keccak_256} from '@noble/hashes/sha3.js'

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/^0x/, ''), 'hex'))
const word = (h: string): Uint8Array => {
  const b = bytes(h)
  const out = new Uint8Array(32)
  out.set(b, 32 - b.length)
  return out
}
const uint = (n: number | bigint): Uint8Array => word(BigInt(n).toString(16).padStart(64, '0'))
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts))

export interface ClaimTyped {
  chainId: number
  registry: string
  claimHash: string
  subject: string
  payer: string
}

/** keccak256("\x19\x01" ‖ domainSeparator ‖ hashStruct(ClaimAttestation)). */
export function claimDigest(q: ClaimTyped, domain = {name: 'medctl ConsentRegistry', version: '2'}): Uint8Array {
  const domainType = keccak_256(utf8('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'))
  const separator = keccak_256(
    concat(domainType, keccak_256(utf8(domain.name)), keccak_256(utf8(domain.version)), uint(q.chainId), word(q.registry)),
  )
  const structType = keccak_256(utf8('ClaimAttestation(bytes32 claimHash,bytes32 subject,address payer)'))
  const struct = keccak_256(concat(structType, word(q.claimHash), word(q.subject), word(q.payer)))
  return keccak_256(concat(Uint8Array.of(0x19, 0x01), separator, struct))
}

function addressOf(publicKey: Uint8Array): string {
  const uncompressed = secp256k1.Point.fromBytes(publicKey).toBytes(false)
  return `0x${hex(keccak_256(uncompressed.slice(1)).slice(12))}`
}

/** The signer of a 65-byte Ethereum signature (r ‖ s ‖ v) over the digest, lowercase. */
export function recoverSigner(digest: Uint8Array, signature: string): string {
  const sig = bytes(signature)
  const v = sig[64] as number
  const recovered = concat(Uint8Array.of(v >= 27 ? v - 27 : v), sig.slice(0, 64))
  return addressOf(secp256k1.recoverPublicKey(recovered, digest, {prehash: false}))
}

/** A fresh key and an Ethereum-style signature by it (r ‖ s ‖ v). */
export function signWithFreshKey(digest: Uint8Array): {address: string; signature: string} {
  const secretKey = secp256k1.utils.randomSecretKey()
  const sig = secp256k1.sign(digest, secretKey, {prehash: false, format: 'recovered'})
  const out = concat(sig.slice(1), Uint8Array.of((sig[0] as number) + 27))
  return {address: addressOf(secp256k1.getPublicKey(secretKey)), signature: `0x${hex(out)}`}
}
